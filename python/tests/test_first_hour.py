"""Issue 19 ("The first hour"), the parts the core gives Python: the
core's lines reach ``logging.getLogger("execlave")``, the first failed sync
is said without ``debug``, local policy mistakes are errors, and the
version has one source."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import execlave
import pytest
from execlave import Execlave
from execlave.errors import ExeclaveError
from support import python_env

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = {
    "api_key": "exe_dev_wrongkey123",
    "base_url": "http://127.0.0.1:9",
    "first_sync_timeout_ms": 300,
    "request_timeout_ms": 200,
}


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def wait_for(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_the_first_failed_sync_reaches_the_execlave_logger_once_without_debug() -> None:
    kept = Kept()
    log = logging.getLogger("execlave")
    log.addHandler(kept)
    try:
        exe = Execlave(**UNREACHABLE)
        try:
            wait_for(lambda: any("policy sync failed" in r.getMessage() for r in kept.records))
            time.sleep(0.3)
        finally:
            exe.shutdown()
    finally:
        log.removeHandler(kept)
    synced = [r for r in kept.records if "policy sync failed" in r.getMessage()]
    assert len(synced) == 1
    assert synced[0].levelno == logging.WARNING
    assert synced[0].name == "execlave"
    assert all(r.levelno > logging.DEBUG for r in kept.records), "debug lines only with debug=True"
    assert not any("wrongkey123" in r.getMessage() for r in kept.records)


def test_without_any_logging_configured_lines_go_to_stderr() -> None:
    script = textwrap.dedent(
        f"""
        import time
        from execlave import Execlave
        exe = Execlave(**{UNREACHABLE!r})
        time.sleep(1.5)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, env=python_env()
    )
    assert done.returncode == 0, done.stderr
    lines = [l for l in done.stderr.splitlines() if l.startswith("[execlave] policy sync failed")]
    assert len(lines) == 1, done.stderr


def test_local_policy_mistakes_are_errors() -> None:
    policy = {
        "name": "Guard",
        "policyType": "tool_invocation",
        "enforcementMode": "block",
        "ruleDefinition": {"denny": ["write_file"]},
    }
    with pytest.raises(ExeclaveError, match=r'did you mean "deny"\?'):
        Execlave(policies=[policy])
    policy = {**policy, "ruleDefinition": {"deny": ["x"]}, "appliesToAgents": ["Ops-Agent"]}
    with pytest.raises(ExeclaveError, match="cannot be an agent id"):
        Execlave(policies=[policy])


def test_an_api_key_of_the_wrong_shape_is_refused_without_echo() -> None:
    with pytest.raises(ExeclaveError) as info:
        Execlave(api_key="sk-live-0123456789", base_url="http://127.0.0.1:9")
    assert "exe_prod_" in str(info.value) and "0123456789" not in str(info.value)


def test_the_version_is_the_cargo_workspace_one() -> None:
    cargo = (ROOT / "Cargo.toml").read_text()
    workspace = cargo.split("[workspace.package]")[1]
    version = workspace.split('version = "')[1].split('"')[0]
    assert execlave.__version__ == version
