"""The Execlave client: options, errors, enforce_policy, stats, flush and
shutdown, panics, interpreter exit."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import execlave
import pytest
from execlave import Execlave
from execlave.errors import (
    AgentPausedError,
    EnforcementHaltError,
    EnforcementUnavailableError,
    ExeclaveAuthError,
    ExeclaveError,
    PolicyBlockedError,
)
from support import GUARD, TEST_POLICIES, python_env, read_audit_log


def test_the_error_hierarchy() -> None:
    assert issubclass(ExeclaveAuthError, ExeclaveError)
    for cls in (PolicyBlockedError, AgentPausedError, EnforcementUnavailableError):
        assert issubclass(cls, EnforcementHaltError) and issubclass(cls, ExeclaveError)
    assert execlave.PolicyBlockedError is PolicyBlockedError
    err = AgentPausedError("agent a is paused: x", "a", "x")
    assert (err.agent_id, err.reason) == ("a", "x")
    err2 = EnforcementUnavailableError("down", 3, "timeout")
    assert (err2.consecutive_failures, err2.last_error) == (3, "timeout")


def test_without_key_or_policies_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EXECLAVE_API_KEY", "EXECLAVE_BASE_URL", "EXECLAVE_POLICY_PATH"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ExeclaveError, match="EXECLAVE_API_KEY") as info:
        Execlave()
    assert getattr(info.value, "kind") == "invalid_options"


@pytest.mark.parametrize(
    ("options", "message", "python_error"),
    [
        ({"environment": "prod"}, "environment", ValueError),
        ({"api_key": "has space"}, "api_key", ValueError),
        ({"buffer_size": 0}, "buffer_size", ValueError),
        ({"batch_size": -1}, "batch_size|invalid options", ValueError),
        ({"policy_refresh_ms": "soon"}, "policy_refresh_ms must be an int", TypeError),
        ({"policy_refresh_ms": float("nan")}, "policy_refresh_ms must be an int", TypeError),
        ({"debug": "yes"}, "debug must be True or False", TypeError),
        ({"api_key": 42}, "api_key must be a string", TypeError),
        ({"policies": 42}, "policies must be", TypeError),
        ({"on_enforcement_bypassed": "not callable"}, "callable", TypeError),
    ],
)
def test_bad_options_raise_execlave_error(options: dict[str, Any], message: str, python_error: type) -> None:
    options = {"policies": [GUARD], **options}
    with pytest.raises(ExeclaveError, match=message) as info:
        Execlave(**options)
    # Python code catches ValueError / TypeError; messages name the
    # options as Python spells them.
    assert isinstance(info.value, python_error)
    assert not re.search(r"\b(apiKey|bufferSize|batchSize|policyRefreshMs)\b", str(info.value))


def test_an_invalid_policy_names_the_file_policy_and_field(tmp_path: Path) -> None:
    path = tmp_path / "fs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "name": "Filesystem guard",
                    "policyType": "tool_invocation",
                    "enforcementMode": "block",
                    "ruleDefinition": {"arguments": [{"tools": ["*"], "argument": "path", "kind": "paht"}]},
                }
            ]
        )
    )
    with pytest.raises(ExeclaveError) as info:
        Execlave(policies=path)
    text = str(info.value)
    assert "fs.json" in text and "Filesystem guard" in text and "kind" in text


def test_policy_path_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([GUARD]))
    monkeypatch.delenv("EXECLAVE_API_KEY", raising=False)
    monkeypatch.setenv("EXECLAVE_POLICY_PATH", str(path))
    with Execlave() as exe:
        with pytest.raises(PolicyBlockedError):
            exe.enforce_policy(agent_id="ops-agent", tools=["delete_all"])


async def test_enforce_policy() -> None:
    with Execlave(policies=TEST_POLICIES) as exe:
        assert await exe.aenforce_policy(agent_id="ops-agent", tools=["echo", "noop"]) == {
            "allowed": True,
            "warnings": [],
        }
        warned = await exe.aenforce_policy(agent_id="ops-agent", tools=["echo"], arguments={"text": "password"})
        assert [w["policyName"] for w in warned["warnings"]] == ["Echo watch"]
        with pytest.raises(PolicyBlockedError):
            await exe.aenforce_policy(agent_id="ops-agent", tools=["echo", "delete_all"])
        with pytest.raises(ExeclaveError, match="non-empty list"):
            await exe.aenforce_policy(agent_id="ops-agent", tools=[])
        with pytest.raises(ExeclaveError, match="non-empty list"):
            await exe.aenforce_policy(agent_id="ops-agent", tools="echo")
        with pytest.raises(ExeclaveError, match="agent"):
            await exe.aenforce_policy(agent_id="Not Kebab", tools=["echo"])
        stats = exe.stats()
        assert (stats["decisions"], stats["allowed"], stats["blocked"], stats["warned"]) == (5, 4, 1, 1)


def test_stats_flush_and_shutdown_are_synchronous(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    exe = Execlave(policies=TEST_POLICIES, audit_log=log, flush_interval_ms=60_000)
    with pytest.raises(PolicyBlockedError):
        exe.enforce_policy(agent_id="ops-agent", tools=["delete_all"])
    exe.flush()
    assert len(read_audit_log(log)) == 1, "flush returns when the sink has the records"
    exe.shutdown()
    exe.shutdown()  # twice is fine
    assert len(read_audit_log(log)) == 1
    assert exe.stats()["records_written"] == 1
    with pytest.raises(ExeclaveError, match="shut down"):
        exe.enforce_policy(agent_id="ops-agent", tools=["echo"])


def test_a_panic_in_the_core_becomes_an_execlave_error() -> None:
    exe = Execlave(policies=TEST_POLICIES)
    with pytest.raises(ExeclaveError, match="internal error"):
        exe._native._panic_for_test()

    async def in_future() -> None:
        from execlave.client import _native_future

        await _native_future(exe._native._panic_in_future_for_test)

    with pytest.raises(ExeclaveError, match="internal error"):
        asyncio.run(in_future())


def test_a_server_side_policy_type_needs_an_api_key() -> None:
    server_only = {
        "name": "Server side",
        "policyType": "cost_limit",
        "enforcementMode": "block",
        "ruleDefinition": {"maxDailyUsd": 5},
    }
    with pytest.raises(ExeclaveError) as info:
        Execlave(policies=[server_only])
    assert "Server side" in str(info.value) and "API key" in str(info.value)
    assert getattr(info.value, "kind") == "invalid_policy"


def _run_python(code: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_interpreter_exit_flushes_and_no_thread_keeps_it_alive(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    done = _run_python(
        f"""
        import asyncio, json
        from execlave import Execlave, PolicyBlockedError
        exe = Execlave(policies=json.loads({json.dumps([GUARD])!r}), audit_log={str(log)!r}, flush_interval_ms=600000)
        try:
            exe.enforce_policy(agent_id="ops-agent", tools=["delete_all"])
        except PolicyBlockedError:
            print("blocked")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "blocked"
    (record,) = read_audit_log(log)
    assert record["status"] == "policy_blocked"
