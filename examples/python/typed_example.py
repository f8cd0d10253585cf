"""The integration as the README gives it, checked by `mypy --strict`
(npm run test:python): the public API's types in a user's code."""

from __future__ import annotations

import json
import os
from typing import Any

from execlave import Execlave
from execlave.errors import AgentPausedError, ExeclaveError, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from mcp import ClientSession


def make_client() -> Execlave:
    return Execlave(
        api_key=os.environ.get("EXECLAVE_API_KEY"),
        policies=os.environ.get("EXECLAVE_POLICY_PATH"),
        environment="staging",
        enforcement_on_outage="fail_closed",
        on_enforcement_bypassed=lambda event: print(event["reason"], event["tool"]),
        shutdown_timeout_ms=2_000,
    )


def govern(session: ClientSession, exe: Execlave) -> ClientSession:
    same: ClientSession = instrument_mcp_session(session, exe, agent_id="ops-agent", session_id="s-1")
    return same


async def handle(session: ClientSession, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        result = await session.call_tool(tool, arguments)
    except PolicyBlockedError as exc:
        return {"error": "blocked", "violations": json.loads(json.dumps(exc.violations))}
    except AgentPausedError as exc:
        return {"error": "paused", "agent": exc.agent_id, "reason": exc.reason}
    except ExeclaveError as exc:
        return {"error": str(exc)}
    return {"content": [c.model_dump() for c in result.content]}


async def check_without_mcp(exe: Execlave) -> bool:
    decision = await exe.aenforce_policy("ops-agent", tools=["read_text_file"], arguments={"path": "/srv"})
    allowed: bool = decision["allowed"]
    return allowed


def finish(exe: Execlave) -> int:
    exe.flush()
    stats: dict[str, int] = exe.stats()
    exe.shutdown()
    return stats["decisions"]
