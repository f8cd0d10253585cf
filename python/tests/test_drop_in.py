"""Code written against the official Python SDK 1.x (execlave-sdk 1.9):
``enforce_policy`` is synchronous (``aenforce_policy`` for asyncio),
``instrument_mcp_client`` is ``instrument_mcp_session``, and the names this
SDK does not implement raise at once, saying what to use instead."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import (
    EnforcementUnavailableError,
    ExeclaveError,
    NotSupportedError,
    PolicyBlockedError,
)
from execlave.integrations import mcp as mcp_integration
from support import TEST_POLICIES


@pytest.fixture
def exe() -> Any:
    with Execlave(policies=TEST_POLICIES) as client:
        yield client


def test_enforce_policy_is_synchronous_as_in_the_official_sdk(exe: Execlave) -> None:
    # The official SDK's call, unchanged: no await, and a refusal raises.
    assert exe.enforce_policy("ops-agent", "list the notes", tools=["echo"]) == {"allowed": True, "warnings": []}
    with pytest.raises(PolicyBlockedError):
        exe.enforce_policy("ops-agent", "clean up", tools=["delete_all"])
    warned = exe.enforce_policy("ops-agent", tools=["echo"], metadata={"toolArguments": {"text": "password"}})
    assert warned["allowed"] is True and warned["warnings"]
    with pytest.raises(PolicyBlockedError):
        exe.enforce_policy("ops-agent", tools=["write_note"], metadata={"toolArguments": {"path": "/etc/x"}})
    assert exe.enforce_policy("ops-agent", tools=["echo"], environment="production")["allowed"] is True


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, TypeError, "tools is required"),
        ({"tools": "echo"}, TypeError, "non-empty list"),
        ({"tools": ["echo"], "environment": "staging"}, ValueError, "client's environment"),
        ({"tools": ["echo"], "metadata": {"user": "x"}}, ValueError, "toolArguments"),
        ({"tools": ["echo"], "metadata": {"toolArguments": {}}, "arguments": {}}, ValueError, "twice"),
    ],
)
def test_what_enforce_policy_cannot_honour_is_refused(
    exe: Execlave, kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        exe.enforce_policy("ops-agent", **kwargs)
    assert isinstance(info.value, ExeclaveError)


async def test_aenforce_policy_is_the_asyncio_variant(exe: Execlave) -> None:
    assert (await exe.aenforce_policy("ops-agent", tools=["echo"]))["allowed"] is True
    with pytest.raises(PolicyBlockedError):
        await exe.aenforce_policy("ops-agent", tools=["delete_all"])


async def test_enforce_policy_in_a_running_loop_decides_and_bounds_a_wait(caplog: pytest.LogCaptureFixture) -> None:
    """A local decision inside a running loop is immediate; one that must
    wait for the first sync waits on this thread, bounded by
    first_sync_timeout_ms, and says once that it blocked the loop."""
    with Execlave(
        api_key="exe_dev_unreachable",
        base_url="http://127.0.0.1:9",
        enforcement_on_outage="fail_closed",
        first_sync_timeout_ms=100,
        request_timeout_ms=100,
    ) as exe:
        with caplog.at_level(logging.WARNING, logger="execlave"):
            for _ in range(2):
                with pytest.raises(EnforcementUnavailableError):
                    exe.enforce_policy("ops-agent", tools=["echo"])
        assert sum("aenforce_policy" in r.getMessage() for r in caplog.records) == 1
        # The loop still runs.
        await asyncio.sleep(0)


def test_instrument_mcp_client_is_instrument_mcp_session() -> None:
    assert mcp_integration.instrument_mcp_client is mcp_integration.instrument_mcp_session


@pytest.mark.parametrize("name", ["register_agent", "start_trace", "trace", "ping"])
def test_official_names_not_implemented_raise_at_once_with_what_to_use(exe: Execlave, name: str) -> None:
    with pytest.raises(NotSupportedError, match="migration-python.md") as info:
        getattr(exe, name)(agent_id="ops-agent", name="Support bot")
    assert isinstance(info.value, ExeclaveError) and isinstance(info.value, NotImplementedError)
    assert name in str(info.value)
