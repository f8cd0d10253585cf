"""What is checked is exactly what is sent, on the wire: a real stdio
server behind ``tee``, whose copy of the client's bytes is compared with
the text the core checked (the audit record's input) and with what the
same call sends unwrapped. Arguments are converted as the ``mcp`` package
converts them (``Path``, ``datetime``, NaN...)."""

from __future__ import annotations

import datetime
import json
import math
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from execlave import Execlave
from execlave.integrations.mcp import instrument_mcp_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from support import python_env, read_audit_log

SERVER = Path(__file__).with_name("wire_server.py")

ARGUMENTS: dict[str, Any] = {
    "payload": {
        "path": Path("/srv/notes/a b.txt"),
        "when": datetime.datetime(2026, 12, 7, 15, 30, 0, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2026, 12, 7),
        "id": uuid.UUID(int=42),
        "nan": math.nan,
        "inf": -math.inf,
        "tuple": (1, "two"),
        "set": {3},
        "bytes": b"raw",
        "text": "é\u2028\"\\",
        "big": 10**30,
        "float": 1e16,
    }
}


async def call_over_stdio(wire: Path, exe: Execlave | None) -> None:
    command = f"tee {shlex.quote(str(wire))} | {shlex.quote(sys.executable)} {shlex.quote(str(SERVER))}"
    params = StdioServerParameters(command="sh", args=["-c", command], env=python_env())
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            if exe is not None:
                instrument_mcp_session(session, exe, agent_id="ops-agent")
            await session.initialize()
            await session.call_tool("inspect", ARGUMENTS)


def sent_call(wire: Path) -> str:
    """The tools/call line the client wrote."""
    calls = [line for line in wire.read_text(encoding="utf-8").split("\n") if '"tools/call"' in line]
    assert len(calls) == 1, calls
    return calls[0]


@pytest.mark.skipif(sys.platform == "win32", reason="uses sh and tee")
async def test_the_bytes_on_the_wire_are_the_checked_text_and_what_mcp_sends_unwrapped(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    policy = {
        "id": "pol_inspect",
        "name": "Inspect",
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": {
            "allow": ["inspect"],
            # An argument rule: the call takes the full decision, which
            # checks the arguments' text.
            "arguments": [{"tools": ["inspect"], "argument": "/payload/path", "kind": "path", "allow": ["/srv/**"]}],
        },
    }
    with Execlave(policies=[policy], audit_log=log) as exe:
        await call_over_stdio(tmp_path / "governed.wire", exe)
    await call_over_stdio(tmp_path / "bare.wire", None)

    checked = read_audit_log(log)[0]["input"]
    governed, bare = sent_call(tmp_path / "governed.wire"), sent_call(tmp_path / "bare.wire")
    # The very bytes the core checked are on the wire.
    assert f'"arguments":{checked}' in governed
    # And the same as the unwrapped session sends.
    assert json.loads(governed)["params"]["arguments"] == json.loads(bare)["params"]["arguments"]
    assert json.loads(checked)["payload"]["path"] == "/srv/notes/a b.txt"
    assert json.loads(checked)["payload"]["nan"] is None
