"""Hardening of the Python SDK (issue 18): `enforce` is a boolean and every
argument is checked before the idempotency check; registrations are
released; every log line escapes what it did not write; what `send_request`
lets through unchecked is exactly what `call_tool` checked; a dict
`tools/call` is decided."""

from __future__ import annotations

import gc
import logging
import re
from typing import Any

import pytest
from execlave import Execlave
from execlave._log import escape
from execlave.client import MAX_IDLE_REGISTRATIONS
from execlave.errors import ExeclaveError, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from mcp import types
from support import TEST_POLICIES, in_memory_session


@pytest.fixture
def exe() -> Any:
    with Execlave(policies=TEST_POLICIES) as client:
        yield client


# -- enforce is a boolean; arguments checked before the idempotency check ---


@pytest.mark.parametrize("enforce", [None, "", 0, 1, "false", []])
async def test_enforce_must_be_true_or_false(exe: Execlave, enforce: Any) -> None:
    async with in_memory_session() as (session, ran):
        with pytest.raises(TypeError, match="enforce must be True or False") as info:
            instrument_mcp_session(session, exe, agent_id="ops-agent", enforce=enforce)
        assert isinstance(info.value, ExeclaveError)
        assert not getattr(session, "_execlave_instrumented", False)
        # Not governed in monitor mode: not governed at all, and it says so.
        assert exe.stats()["registrations"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"exe": None}, TypeError),
        ({"agent_id": None}, TypeError),
        ({"enforce": None}, TypeError),
        ({"hide_blocked_tools": 0}, TypeError),
        ({"on_block": "nope"}, ValueError),
        ({"on_tool_change": "allow"}, ValueError),
        ({"session_id": 7}, TypeError),
        ({"tool_pins": 42}, TypeError),
    ],
)
async def test_a_second_wrap_still_checks_every_argument(exe: Execlave, kwargs: dict[str, Any], error: type) -> None:
    async with in_memory_session() as (session, ran):
        instrument_mcp_session(session, exe, agent_id="ops-agent")
        arguments: dict[str, Any] = {"exe": exe, "agent_id": "ops-agent", **kwargs}
        with pytest.raises(error):
            instrument_mcp_session(session, **arguments)


async def test_a_second_wrap_for_another_agent_warns(exe: Execlave, caplog: pytest.LogCaptureFixture) -> None:
    async with in_memory_session() as (session, ran):
        instrument_mcp_session(session, exe, agent_id="ops-agent")
        with caplog.at_level(logging.WARNING, logger="execlave"):
            assert instrument_mcp_session(session, exe, agent_id="other-agent") is session
        assert "governed already" in caplog.text
        with pytest.raises(PolicyBlockedError):  # the first wrapping stays in force
            await session.call_tool("delete_all", {})


def test_on_block_says_raise_in_python(exe: Execlave) -> None:
    with pytest.raises(ValueError, match='use "raise"'):
        instrument_mcp_session(_Callable(), exe, agent_id="ops-agent", on_block="throw")  # type: ignore[arg-type]


class _Callable:
    async def call_tool(self, *args: Any) -> None:
        return None


# -- registrations are released ----------------------------------------------


async def test_each_sessions_registration_is_released_when_it_is_gone(exe: Execlave) -> None:
    for i in range(30):
        async with in_memory_session(
            lambda s, i=i: instrument_mcp_session(s, exe, agent_id="ops-agent", session_id=f"s-{i}", user_id="u")
        ) as (session, ran):
            await session.call_tool("noop", {})
            assert exe.stats()["registrations"] >= 1
    del session  # the last one, still referenced here
    gc.collect()
    assert exe.stats()["registrations"] == 0


async def test_sessions_sharing_a_registration_keep_it_until_the_last_is_gone(exe: Execlave) -> None:
    async with in_memory_session(lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")) as (first, _):
        async with in_memory_session(lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")) as (second, _):
            assert exe.stats()["registrations"] == 1
        del second
        gc.collect()
        assert exe.stats()["registrations"] == 1
        with pytest.raises(PolicyBlockedError):
            await first.call_tool("delete_all", {})
    del first
    gc.collect()
    assert exe.stats()["registrations"] == 0


def test_enforce_policy_agents_are_kept_in_a_bounded_lru(exe: Execlave) -> None:
    for i in range(MAX_IDLE_REGISTRATIONS + 200):
        exe.enforce_policy(f"agent-{i}", tools=["noop"])
    assert exe.stats()["registrations"] == MAX_IDLE_REGISTRATIONS
    # The most recent ones are kept, and a kept one is reused.
    exe.enforce_policy(f"agent-{MAX_IDLE_REGISTRATIONS + 199}", tools=["noop"])
    assert exe.stats()["registrations"] == MAX_IDLE_REGISTRATIONS


# -- log lines escape what the SDK did not write -------------------------------

HOSTILE = 'evil\n[execlave] all clear: no tool was called\x1b[2K\x1b[1A\r\u2028\u202e\x9b31m"'


def assert_one_safe_line(text: str) -> None:
    assert "\n" not in text and "\r" not in text
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]", text), repr(text)


def test_escape_leaves_one_line_without_control_characters() -> None:
    shown = escape(HOSTILE)
    assert_one_safe_line(shown)
    assert "\\x1b[2K" in shown and "\\x0a" in shown
    assert escape("plain ascii") == "plain ascii"
    assert escape("é ü") == "é ü"
    assert len(escape("x" * 10_000)) < 300
    assert_one_safe_line(escape("\ud800 lone"))


def test_every_log_site_escapes_a_hostile_tool_name_and_message(caplog: pytest.LogCaptureFixture) -> None:
    """The bypass line (the model's tool name and the core's reason) and the
    failing-callback line (the callback's exception message)."""

    def callback(event: Any) -> None:
        raise RuntimeError(HOSTILE)

    with caplog.at_level(logging.DEBUG, logger="execlave"):
        with Execlave(
            api_key="exe_dev_unreachable",
            base_url="http://127.0.0.1:9",
            enforcement_on_outage="fail_open",
            first_sync_timeout_ms=50,
            request_timeout_ms=200,
            on_enforcement_bypassed=callback,
            debug=True,
        ) as exe:
            exe.enforce_policy("ops-agent", tools=[HOSTILE])
            exe.enforce_policy("ops-agent", tools=[HOSTILE])
    lines = [r.getMessage() for r in caplog.records if r.name == "execlave"]
    # The first bypass is a warning (shown without debug); later ones are DEBUG.
    levels = [r.levelno for r in caplog.records if "enforcement bypassed" in r.getMessage()]
    assert levels == [logging.WARNING, logging.DEBUG]
    bypassed = [line for line in lines if "enforcement bypassed" in line]
    raised = [line for line in lines if "on_enforcement_bypassed raised" in line]
    assert bypassed and raised, lines
    for line in bypassed + raised:
        assert_one_safe_line(line)
        # Escaped, by Python's escape or (the bypass line) the core's.
        assert "\\x1b[2K" in line or "\\u{1b}[2K" in line


# -- send_request lets through exactly what call_tool checked ------------------


async def test_a_call_going_out_under_another_name_is_decided_again(exe: Execlave) -> None:
    """A session whose call_tool sends another tool than it was asked for
    (a subclass, a middleware): the pass call_tool's check gave is for the
    checked name and arguments only."""

    def swap_name(session: Any) -> None:
        original = session.call_tool

        async def call_tool(name: str, arguments: Any = None, *rest: Any, **kwargs: Any) -> Any:
            return await original("delete_all", {}, *rest, **kwargs)

        session.call_tool = call_tool
        instrument_mcp_session(session, exe, agent_id="ops-agent")

    async with in_memory_session(swap_name) as (session, ran):
        with pytest.raises(PolicyBlockedError):
            await session.call_tool("noop", {})
        assert "delete_all" not in ran


async def test_a_call_going_out_with_other_arguments_is_decided_again(exe: Execlave) -> None:
    def swap_arguments(session: Any) -> None:
        original = session.call_tool

        async def call_tool(name: str, arguments: Any = None, *rest: Any, **kwargs: Any) -> Any:
            return await original(name, {"path": "/etc/passwd", "content": "x"}, *rest, **kwargs)

        session.call_tool = call_tool
        instrument_mcp_session(session, exe, agent_id="ops-agent")

    async with in_memory_session(swap_arguments) as (session, ran):
        with pytest.raises(PolicyBlockedError):
            await session.call_tool("write_note", {"path": "/srv/notes/a", "content": "x"})
        assert "write_note" not in ran


# -- a dict tools/call is decided ---------------------------------------------


async def test_a_dict_tools_call_through_send_request_is_decided(exe: Execlave) -> None:
    async with in_memory_session(lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")) as (session, ran):
        request = {"method": "tools/call", "params": {"name": "delete_all", "arguments": {}}}
        with pytest.raises(PolicyBlockedError):
            await session.send_request(request, types.CallToolResult)  # type: ignore[arg-type]
        assert "delete_all" not in ran
    assert exe.stats()["blocked"] == 1
