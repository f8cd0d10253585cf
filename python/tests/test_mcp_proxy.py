"""``execlave-mcp`` through the Python launcher (issue 21): the real
``ClientSession`` is the host, the proxy runs the real server-filesystem.
The relay is the core's, the same as the npm launcher's
(__test__/mcp-proxy.test.mjs has the full set of cases)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import execlave
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from support import NODE_MODULES, is_error, python_env, read_audit_log, text_of

FILESYSTEM = str(NODE_MODULES / "@modelcontextprotocol/server-filesystem/dist/index.js")
EVERYTHING = str(NODE_MODULES / "@modelcontextprotocol/server-everything/dist/index.js")
PROXY = [sys.executable, "-m", "execlave._mcp_proxy"]


def write_policies(path: Path, root: Path, mode: str = "block") -> Path:
    rule: dict[str, Any]
    if mode == "block":
        rule = {
            "deny": ["move_file"],
            "arguments": [{"tools": ["write_file", "read_text_file"], "argument": "path", "kind": "path",
                           "allow": [f"{root}/data/**"]}],
        }
    else:
        rule = {"deny": ["write_file"]}
    path.write_text(json.dumps([{"name": "FS", "policyType": "tool_invocation", "enforcementMode": mode,
                                 "ruleDefinition": rule}]))
    return path


@asynccontextmanager
async def proxied(proxy_args: list[str], root: Path, **session_kwargs: Any) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=PROXY[0], args=[*PROXY[1:], *proxy_args, "--", "node", FILESYSTEM, str(root)], env=python_env()
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, **session_kwargs) as session:
            await session.initialize()
            yield session


def tree(tmp_path: Path) -> Path:
    root = tmp_path.resolve()
    (root / "data").mkdir()
    (root / "private").mkdir()
    (root / "data" / "a.txt").write_text("alpha")
    return root


async def test_allowed_calls_run_blocked_ones_leave_nothing_and_lists_are_filtered(tmp_path: Path) -> None:
    root = tree(tmp_path)
    policy = write_policies(tmp_path / "policy.json", root)
    log = tmp_path / "audit.jsonl"
    async with proxied(["--agent-id", "py-host", "--policy", str(policy), "--audit-log", str(log)], root) as s:
        read = await s.call_tool("read_text_file", {"path": str(root / "data" / "a.txt")})
        assert text_of(read) == "alpha"
        blocked = await s.call_tool("write_file", {"path": str(root / "private" / "x.txt"), "content": "x"})
        assert is_error(blocked)
        assert text_of(blocked).startswith("The tool call was not made: blocked by policy")
        assert not (root / "private" / "x.txt").exists()
        names = [t.name for t in (await s.list_tools()).tools]
        assert "move_file" not in names and "write_file" in names
    records = read_audit_log(log)
    assert [(r["metadata"]["toolName"], r["metadata"]["decision"]) for r in records] == [
        ("read_text_file", "allowed"),
        ("write_file", "blocked"),
    ]
    assert records[0]["metadata"]["client"]["name"]
    assert "server-filesystem" in records[0]["metadata"]["upstream"]
    assert len({r["sessionId"] for r in records}) == 1


async def test_an_approval_is_asked_in_the_host(tmp_path: Path) -> None:
    root = tree(tmp_path)
    policy = write_policies(tmp_path / "policy.json", root, "require_approval")
    asked: list[str] = []

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        approve = "yes.txt" in params.message
        return types.ElicitResult(action="accept", content={"approve": approve})

    async with proxied(["--agent-id", "py-host", "--policy", str(policy)], root, elicitation_callback=answer) as s:
        ok = await s.call_tool("write_file", {"path": str(root / "data" / "yes.txt"), "content": "y"})
        assert not is_error(ok)
        no = await s.call_tool("write_file", {"path": str(root / "data" / "no.txt"), "content": "n"})
        assert is_error(no)
    assert (root / "data" / "yes.txt").exists() and not (root / "data" / "no.txt").exists()
    assert "write_file" in asked[0]


def test_bad_command_lines_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    policy = write_policies(tmp_path / "policy.json", tmp_path)
    for args, message in [
        (["--agent-id", "a", "--frobnicate", "--", "x"], 'unknown option "--frobnicate"'),
        (["--policy", str(policy), "--", "x"], "--agent-id is required"),
        (["--agent-id", "a", "--policy", str(policy), "--", str(tmp_path / "nope")], "cannot start the MCP server"),
    ]:
        r = subprocess.run([*PROXY, *args], capture_output=True, text=True, input="", env=python_env(), timeout=30)
        assert r.returncode != 0
        assert message in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_version_is_the_packages() -> None:
    r = subprocess.run([*PROXY, "--version"], capture_output=True, text=True, env=python_env(), timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{execlave.__version__}\n"


@asynccontextmanager
async def everything_over_http() -> AsyncIterator[str]:
    """server-everything in its Streamable HTTP mode on a free loopback port; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["node", EVERYTHING, "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        assert server.stderr is not None
        while "listening on port" not in server.stderr.readline():
            assert time.monotonic() < deadline and server.poll() is None, "server-everything did not start"
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.kill()
        server.wait()


async def test_an_http_upstream_runs_allowed_calls_and_refuses_blocked_ones(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps([{"name": "No env", "policyType": "tool_invocation", "enforcementMode": "block",
                                   "ruleDefinition": {"deny": ["get-env"]}}]))
    log = tmp_path / "audit.jsonl"
    async with everything_over_http() as url:
        args = ["--agent-id", "py-host", "--policy", str(policy), "--audit-log", str(log),
                "--url", url + "?token=s3cret", "--header", "X-Team: blue"]
        params = StdioServerParameters(command=PROXY[0], args=[*PROXY[1:], *args], env=python_env())
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                echoed = await s.call_tool("echo", {"message": "from python"})
                assert text_of(echoed) == "Echo: from python"
                blocked = await s.call_tool("get-env", {})
                assert is_error(blocked)
                assert text_of(blocked).startswith("The tool call was not made: blocked by policy")
    records = read_audit_log(log)
    assert [(r["metadata"]["toolName"], r["metadata"]["decision"]) for r in records] == [
        ("echo", "allowed"),
        ("get-env", "blocked"),
    ]
    assert records[0]["metadata"]["upstream"] == url
