"""Governed sessions against the reference MCP servers from the repository's
node_modules, over stdio: server-filesystem (blocked writes leave no file)
and server-everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from support import is_error, read_audit_log, stdio_session, text_of

FILESYSTEM = "@modelcontextprotocol/server-filesystem/dist/index.js"
EVERYTHING = "@modelcontextprotocol/server-everything/dist/index.js"


def filesystem_policy(root: Path) -> dict[str, Any]:
    return {
        "name": "Filesystem guard",
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": {
            "deny": ["move_file"],
            "arguments": [
                {"tools": ["*"], "argument": "path", "kind": "path", "allow": [f"{root}/**"]},
                {"tools": ["write_file", "edit_file", "create_directory"], "argument": "path", "kind": "path",
                 "deny": [f"{root}/readonly/**"]},
                {"tools": ["read_multiple_files"], "argument": "paths", "kind": "path", "allow": [f"{root}/**"]},
            ],
        },
    }


async def test_filesystem_server(tmp_path: Path) -> None:
    root = (tmp_path / "data").resolve()
    (root / "readonly").mkdir(parents=True)
    (root / "readonly" / "keep.txt").write_text("keep")
    (root / "hello.txt").write_text("hello")
    log = tmp_path / "audit.jsonl"
    with Execlave(policies=[filesystem_policy(root)], audit_log=log) as exe:
        setup = lambda s: instrument_mcp_session(s, exe, agent_id="fs-agent")  # noqa: E731
        async with stdio_session(FILESYSTEM, [str(root)], setup) as session:
            read = await session.call_tool("read_text_file", {"path": str(root / "hello.txt")})
            assert text_of(read) == "hello"
            wrote = await session.call_tool("write_file", {"path": str(root / "new.txt"), "content": "new"})
            assert not is_error(wrote)
            assert (root / "new.txt").read_text() == "new"
            blocked = [
                ("write_file", {"path": str(root / "readonly" / "evil.txt"), "content": "x"}),
                ("write_file", {"path": str(root / ".." / "escape.txt"), "content": "x"}),
                ("edit_file", {"path": str(root / "readonly" / "keep.txt"), "edits": [{"oldText": "keep", "newText": "gone"}]}),
                ("move_file", {"source": str(root / "hello.txt"), "destination": str(root / "moved.txt")}),
                ("create_directory", {"path": str(root / "readonly" / "sub")}),
            ]
            for name, arguments in blocked:
                with pytest.raises(PolicyBlockedError):
                    await session.call_tool(name, arguments)
            many = await session.call_tool("read_multiple_files", {"paths": [str(root / "hello.txt")]})
            assert "hello" in text_of(many)
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("read_multiple_files", {"paths": [str(root / "hello.txt"), "/etc/passwd"]})
        exe.flush()
    # Blocked writes left nothing behind.
    assert not (root / "readonly" / "evil.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert (root / "readonly" / "keep.txt").read_text() == "keep"
    assert (root / "hello.txt").exists() and not (root / "moved.txt").exists()
    assert not (root / "readonly" / "sub").exists()
    statuses = [r["status"] for r in read_audit_log(log)]
    assert statuses == ["success", "success"] + ["policy_blocked"] * 5 + ["success", "policy_blocked"]


async def test_everything_server(tmp_path: Path) -> None:
    policy = {
        "name": "Everything guard",
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": {
            "allow": ["echo", "get-sum", "get-env"],
            "arguments": [{"tools": ["get-sum"], "argument": "a", "kind": "number", "max": 100}],
        },
    }
    with Execlave(policies=[policy]) as exe:
        setup = lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")  # noqa: E731
        async with stdio_session(EVERYTHING, ["stdio"], setup) as session:
            tools = {t.name for t in (await session.list_tools()).tools}
            assert {"echo", "get-sum", "get-env"} <= tools
            echoed = await session.call_tool("echo", {"message": "hi"})
            assert "hi" in text_of(echoed)
            summed = await session.call_tool("get-sum", {"a": 2, "b": 3})
            assert "5" in text_of(summed)
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("get-sum", {"a": 1000, "b": 1})
            with pytest.raises(PolicyBlockedError):
                await session.call_tool("get-tiny-image", {})
            stats = exe.stats()
    assert (stats["allowed"], stats["blocked"]) == (2, 2)
