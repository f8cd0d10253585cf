"""What the Python tests share: paths, policies, real MCP servers (in
process over memory streams, and the repository's Node servers over stdio),
and the project's test control plane as a Node child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.memory import create_client_server_memory_streams

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"

GUARD: dict[str, Any] = {
    "id": "pol_guard",
    "name": "Guard",
    "policyType": "tool_invocation",
    "enforcementMode": "block",
    "appliesToAgents": ["ops-agent"],
    "ruleDefinition": {
        "allow": ["echo", "noop", "write_note", "refund", "read_many", "soft_fail", "inspect", "sleep"],
        "deny": ["delete_all"],
        "arguments": [
            {"tools": ["write_note"], "argument": "path", "kind": "path", "allow": ["/srv/notes/**"]},
            {"tools": ["read_many"], "argument": "paths", "kind": "path", "allow": ["/srv/notes/**"]},
            {"tools": ["refund"], "argument": "/order/amount", "kind": "number", "max": 100, "required": True},
        ],
    },
}

ECHO_WATCH: dict[str, Any] = {
    "id": "pol_echo_watch",
    "name": "Echo watch",
    "policyType": "tool_invocation",
    "enforcementMode": "warn",
    "ruleDefinition": {
        "arguments": [
            {"tools": ["echo"], "argument": "text", "kind": "regex", "deny": ["password"], "caseInsensitive": True}
        ]
    },
}

TEST_POLICIES = [GUARD, ECHO_WATCH]


def _mcp_version() -> str:
    from importlib.metadata import version

    return version("mcp")


MCP_VERSION = _mcp_version()
MCP_MAJOR = int(MCP_VERSION.split(".")[0])


def build_server(ran: dict[str, list[Any]]) -> Any:
    """An in-process MCP server with a few tools; `ran` records each tool's
    arguments as the server received them."""
    if MCP_MAJOR >= 2:
        from mcp.server.mcpserver import MCPServer as HighLevel
    else:
        from mcp.server.fastmcp import FastMCP as HighLevel
    server = HighLevel("execlave-test")

    def note(tool: str, args: Any) -> None:
        ran.setdefault(tool, []).append(args)

    @server.tool()
    def echo(text: str) -> str:
        note("echo", {"text": text})
        return text

    @server.tool()
    def noop() -> str:
        note("noop", {})
        return "ok"

    @server.tool()
    def write_note(path: str, content: str = "") -> str:
        note("write_note", {"path": path, "content": content})
        return f"wrote {path}"

    @server.tool()
    def read_many(paths: list[str]) -> str:
        note("read_many", {"paths": paths})
        return ",".join(paths)

    @server.tool()
    def refund(order: dict[str, Any]) -> str:
        note("refund", {"order": order})
        return "refunded"

    @server.tool()
    def delete_all() -> str:
        note("delete_all", {})
        return "everything is gone"

    @server.tool()
    def soft_fail() -> str:
        note("soft_fail", {})
        raise ValueError("the tool failed on purpose")

    @server.tool()
    def inspect(payload: Any = None) -> str:
        note("inspect", {"payload": payload})
        return json.dumps(payload)

    @server.tool()
    async def sleep(seconds: float) -> str:
        note("sleep", {"seconds": seconds})
        await anyio.sleep(seconds)
        return "slept"

    return server


def _lowlevel(server: Any) -> Any:
    return getattr(server, "_lowlevel_server", None) or server._mcp_server


@asynccontextmanager
async def in_memory_session(
    setup: Callable[[ClientSession], object] | None = None,
    *,
    on_server: Callable[[Any], object] | None = None,
    **session_kwargs: Any,
) -> AsyncIterator[tuple[ClientSession, dict[str, list[Any]]]]:
    """A real ClientSession connected to the in-process server over memory
    streams. `setup(session)` runs right after construction, before
    `initialize` (where users instrument); `on_server(server)` gets the
    high-level server, for tests that change its tools while it runs."""
    ran: dict[str, list[Any]] = {}
    server = build_server(ran)
    if on_server is not None:
        on_server(server)
    low = _lowlevel(server)
    async with create_client_server_memory_streams() as (client_streams, server_streams):
        async with anyio.create_task_group() as tg:

            async def run_server() -> None:
                await low.run(server_streams[0], server_streams[1], low.create_initialization_options())

            tg.start_soon(run_server)
            async with ClientSession(client_streams[0], client_streams[1], **session_kwargs) as session:
                if setup is not None:
                    setup(session)
                await session.initialize()
                yield session, ran
            tg.cancel_scope.cancel()


@asynccontextmanager
async def stdio_session(
    script: str, args: list[str], setup: Callable[[ClientSession], object] | None = None, **session_kwargs: Any
) -> AsyncIterator[ClientSession]:
    """A real ClientSession to a Node MCP server from the repository's
    node_modules, over stdio."""
    params = StdioServerParameters(command="node", args=[str(NODE_MODULES / script), *args])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, **session_kwargs) as session:
            if setup is not None:
                setup(session)
            await session.initialize()
            yield session


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def is_error(result: Any) -> bool:
    value = getattr(result, "isError", None)
    if value is None:
        value = getattr(result, "is_error", False)
    return bool(value)


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    # Split at "\n" only: JSON text may hold a raw U+2028, which splitlines() splits at.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


class ControlPlane:
    """The project's test control plane (test-control-plane/), in a Node
    child process driven over stdin/stdout by control_plane.mjs beside this
    file: one JSON command per line, one JSON answer per line."""

    def __init__(self, **options: Any) -> None:
        self._proc = subprocess.Popen(
            ["node", str(Path(__file__).with_name("control_plane.mjs")), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = self._read()
        self.url: str = ready["url"]
        self.api_key: str = ready["apiKey"]

    def _read(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the test control plane exited")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer and len(answer) == 1:
            raise RuntimeError(f"test control plane: {answer['error']}")
        return answer

    def call(self, op: str, *args: Any) -> Any:
        """Calls the controller's `op` (see test-control-plane/index.mjs)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
        self._proc.stdin.flush()
        return self._read()["result"]

    def traces(self) -> list[dict[str, Any]]:
        return list(self.call("traces"))

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def python_env() -> dict[str, str]:
    """The environment for a child Python, without Execlave's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECLAVE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env
