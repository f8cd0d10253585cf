"""``Execlave``: one per process. Holds the native governor (the Rust core)
and the Python-only parts: callbacks, asyncio futures, exit handling."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import sys
import threading
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal, Union

from . import _native
from ._approvals import DEFAULT_APPROVAL_TIMEOUT_MS, Approver, ask_approver
from ._call_observer import approval_asked_locally, approval_granted, approval_refused
from ._governance import check_tool_name, halt_error, snapshot_arguments
from ._log import enable_debug, escape, logger, native_line
from ._names import python_names
from ._unsupported import unsupported_method
from .errors import (
    ApprovalVerificationError,
    ExeclaveError,
    ExeclaveTypeError,
    ExeclaveValueError,
    PolicyBlockedError,
)

__all__ = ["Execlave", "BypassEvent"]

BypassEvent = dict[str, str]
"""What ``on_enforcement_bypassed`` receives: ``reason``, ``tool``, ``timestamp``."""

DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000

# How a call ended, as the native `complete` takes it.
ANSWERED = 0
ANSWERED_IS_ERROR = 1
THREW = 2

# A decision: a bare ticket (allowed, nothing to report), or a pending one.
Ticket = Union[int, Awaitable[int]]

_CAMEL = re.compile(r"_([a-z])")
_SNAKE = re.compile(r"(?<!^)([A-Z])")

# Every live client, so that interpreter exit flushes them (see _at_exit)
# and a forked child restarts them (see _after_fork_in_child).
_live: weakref.WeakSet[Execlave] = weakref.WeakSet()

# Registrations no session or call uses any more, kept for reuse (an
# ``enforce_policy`` agent is likely to be back): at most this many, least
# recently released first out, as the Node SDK keeps them.
MAX_IDLE_REGISTRATIONS = 1024

# A registration's key: (agent_id, session_id, user_id, enforce).
RegistrationKey = tuple[str, Union[str, None], Union[str, None], bool]

_BOOL_OPTIONS = frozenset({"debug", "sign_requests", "report_bypasses", "scan_tool_outputs"})
_STR_OPTIONS = frozenset({"api_key", "base_url", "environment", "enforcement", "enforcement_on_outage"})
_INT_OPTIONS = frozenset(
    {
        "policy_refresh_ms",
        "poll_interval_ms",
        "first_sync_timeout_ms",
        "request_timeout_ms",
        "circuit_breaker_cooldown_ms",
        "buffer_size",
        "batch_size",
        "flush_interval_ms",
        "shutdown_timeout_ms",
        "max_pending_calls",
    }
)


def _check_option_type(name: str, value: object) -> None:
    """A wrong type is a ``TypeError`` naming the option; its value is the
    core's to judge (a ``ValueError``)."""
    if name in _BOOL_OPTIONS:
        ok, want = isinstance(value, bool), "True or False"
    elif name in _STR_OPTIONS:
        ok, want = isinstance(value, str), "a string"
    elif name in _INT_OPTIONS:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an int (milliseconds or a count)"
    else:
        return
    if not ok:
        raise ExeclaveTypeError(f"Execlave: {name} must be {want}, got {type(value).__name__}")


def _python_error(err: ExeclaveError) -> ExeclaveError:
    """A core error as Python code expects it: a bad option, policy or
    argument is an ``ExeclaveValueError`` (a ``ValueError``), and every
    message names options as Python spells them."""
    kind = getattr(err, "kind", None)
    message = python_names(str(err))
    converted: ExeclaveError
    if kind in ("invalid_options", "invalid_policy", "invalid_argument"):
        converted = ExeclaveValueError(message)
    else:
        converted = ExeclaveError(message)
    converted.kind = kind  # type: ignore[attr-defined]
    return converted


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _snake(name: str) -> str:
    return _SNAKE.sub(r"_\1", name).lower()


def _settle(future: asyncio.Future[Any], value: object) -> None:
    """Runs on the event loop: hands a native result to its future."""
    if future.done():  # cancelled meanwhile
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


def _native_future(start: Callable[[Callable[[object], None]], None]) -> asyncio.Future[Any]:
    """A future resolved by the native side: the core's runtime calls
    ``on_done`` from its own thread, which hands the value to this loop with
    ``call_soon_threadsafe``. The event loop is never blocked."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def on_done(value: object) -> None:
        try:
            loop.call_soon_threadsafe(_settle, future, value)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    start(on_done)
    return future


class Execlave:
    """The Execlave client. Options are the Node SDK's, in snake_case
    (durations keep their ``_ms`` suffix), with the same defaults and
    environment variables (``EXECLAVE_API_KEY``, ``EXECLAVE_BASE_URL``,
    ``EXECLAVE_POLICY_PATH``). Raises ``ExeclaveError`` for bad options and
    invalid policies."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        environment: Literal["development", "staging", "production"] = "production",
        policies: Sequence[Mapping[str, Any]] | str | os.PathLike[str] | None = None,
        audit_log: str | os.PathLike[str] | None = None,
        debug: bool = False,
        *,
        enforcement: Literal["local", "remote"] | None = None,
        enforcement_on_outage: Literal["fail_open", "fail_closed"] | None = None,
        on_enforcement_bypassed: Callable[[BypassEvent], object] | None = None,
        report_bypasses: bool | None = None,
        scan_tool_outputs: bool | None = None,
        policy_refresh_ms: int | None = None,
        poll_interval_ms: int | None = None,
        policy_cache_path: str | os.PathLike[str] | None = None,
        first_sync_timeout_ms: int | None = None,
        request_timeout_ms: int | None = None,
        circuit_breaker_cooldown_ms: int | None = None,
        sign_requests: bool | None = None,
        buffer_size: int | None = None,
        batch_size: int | None = None,
        flush_interval_ms: int | None = None,
        shutdown_timeout_ms: int | None = None,
        max_pending_calls: int | None = None,
        approval_timeout_ms: int | None = None,
        approval_poll_interval_ms: int | None = None,
        approver: Approver | None = None,
    ) -> None:
        if policies is not None and not isinstance(policies, (str, os.PathLike, list, tuple)):
            raise ExeclaveTypeError(
                "Execlave: policies must be a list of policy dicts or a path to a file or directory, "
                f"got {type(policies).__name__}"
            )
        if on_enforcement_bypassed is not None and not callable(on_enforcement_bypassed):
            raise ExeclaveTypeError("Execlave: on_enforcement_bypassed must be callable")
        if approver is not None and not callable(approver):
            raise ExeclaveTypeError(f"approver must be a function (async or not), got {type(approver).__name__}")
        options: dict[str, Any] = {}
        for name, value in (
            ("api_key", api_key),
            ("base_url", base_url),
            ("environment", environment),
            ("policies", policies),
            ("audit_log", audit_log),
            ("debug", debug),
            ("enforcement", enforcement),
            ("enforcement_on_outage", enforcement_on_outage),
            ("report_bypasses", report_bypasses),
            ("scan_tool_outputs", scan_tool_outputs),
            ("policy_refresh_ms", policy_refresh_ms),
            ("poll_interval_ms", poll_interval_ms),
            ("policy_cache_path", policy_cache_path),
            ("first_sync_timeout_ms", first_sync_timeout_ms),
            ("request_timeout_ms", request_timeout_ms),
            ("circuit_breaker_cooldown_ms", circuit_breaker_cooldown_ms),
            ("sign_requests", sign_requests),
            ("buffer_size", buffer_size),
            ("batch_size", batch_size),
            ("flush_interval_ms", flush_interval_ms),
            ("shutdown_timeout_ms", shutdown_timeout_ms),
            ("max_pending_calls", max_pending_calls),
            ("approval_timeout_ms", approval_timeout_ms),
            ("approval_poll_interval_ms", approval_poll_interval_ms),
        ):
            if value is None:
                continue
            _check_option_type(name, value)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if isinstance(value, tuple):
                value = list(value)
            options[_camel(name)] = value
        # The approver stays here; the core only learns that there is one.
        options["localApprover"] = approver is not None
        try:
            options_json = json.dumps(options, allow_nan=False)
        except (TypeError, ValueError) as cause:
            raise ExeclaveValueError(f"Execlave options cannot be serialised: {cause}") from cause
        if debug:
            enable_debug()
        try:
            self._native = _native.NativeGovernor(options_json, native_line)
        except ExeclaveError as err:
            raise _python_error(err) from err
        # The shortcut of a call the policies decide by its tool name alone
        # (a ticket, or None: decide it with `_decide`), bound once: the
        # wrapper calls it on every call.
        self._decide_by_tool: Callable[[int, str], int | None] = self._native.decide_by_tool
        self._on_bypass = on_enforcement_bypassed
        self._approver = approver
        self._approval_timeout_ms = (
            DEFAULT_APPROVAL_TIMEOUT_MS if approval_timeout_ms is None else int(approval_timeout_ms)
        )
        self._agent_of: dict[int, str] = {}
        self._shutdown_timeout_ms = (
            DEFAULT_SHUTDOWN_TIMEOUT_MS if shutdown_timeout_ms is None else int(shutdown_timeout_ms)
        )
        self._debug = bool(debug)
        self._environment = environment
        # Registrations by key: [handle, uses]; idle ones (no use) in
        # `_idle`, oldest first. Only the thread that holds the GIL touches
        # them, one step at a time.
        self._registrations: dict[RegistrationKey, list[int]] = {}
        self._idle: OrderedDict[RegistrationKey, None] = OrderedDict()
        self._warned_blocking_wait = False
        _live.add(self)
        _watch_multiprocessing(self)

    # -- public API -----------------------------------------------------

    def enforce_policy(
        self,
        agent_id: str,
        input: str | None = None,
        *,
        tools: Sequence[str] | None = None,
        arguments: Mapping[str, Any] | None = None,
        environment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The decision the MCP wrapper makes, for callers without MCP:
        synchronous, as in the official SDK 1.x. Returns ``{"allowed": True,
        "warnings": [...]}`` or raises an ``EnforcementHaltError`` (usually
        ``PolicyBlockedError``). Refusals are recorded; allowed calls are
        not (no call is made to record).

        ``tools``: the tool names to decide (required). ``arguments``: the
        call's arguments; ``metadata={"toolArguments": {...}}``, the
        official SDK's spelling, is the same. ``environment``: if given,
        must be the client's own (decisions use the client's).

        Decisions are local and take microseconds. Only a decision that
        must wait (for the first policy sync, at most
        ``first_sync_timeout_ms``; or for the control plane under
        ``enforcement="remote"``, at most ``request_timeout_ms``) blocks the
        calling thread; inside a running event loop that blocks the loop
        for as long (said once, as a warning): use ``await
        aenforce_policy(...)`` there."""
        key, tools, arguments = self._enforce_request(agent_id, tools, arguments, environment, metadata)
        handle = self._acquire(key)
        try:
            warnings: list[dict[str, Any]] = []
            for tool in tools:
                _, text = snapshot_arguments(tool, arguments)
                outcome = self._decide(handle, tool, text, False, input)
                if not isinstance(outcome, (int, dict)):
                    outcome = self._wait_blocking(outcome)
                if isinstance(outcome, dict):
                    warnings.extend(outcome.get("warnings") or [])
            return {"allowed": True, "warnings": warnings}
        finally:
            self._release(key, keep_idle=True)

    async def aenforce_policy(
        self,
        agent_id: str,
        input: str | None = None,
        *,
        tools: Sequence[str] | None = None,
        arguments: Mapping[str, Any] | None = None,
        environment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``enforce_policy`` for asyncio: a decision that must wait (first
        sync, the control plane) never blocks the event loop."""
        key, tools, arguments = self._enforce_request(agent_id, tools, arguments, environment, metadata)
        handle = self._acquire(key)
        try:
            warnings: list[dict[str, Any]] = []
            for tool in tools:
                _, text = snapshot_arguments(tool, arguments)
                outcome = self._decide(handle, tool, text, False, input)
                if not isinstance(outcome, (int, dict)):
                    outcome = await outcome
                if isinstance(outcome, dict):
                    warnings.extend(outcome.get("warnings") or [])
            return {"allowed": True, "warnings": warnings}
        finally:
            self._release(key, keep_idle=True)

    # The official SDK 1.x's names this SDK does not implement: each raises
    # NotSupportedError saying what to use instead (see _unsupported.py).
    register_agent = unsupported_method("register_agent")
    start_trace = unsupported_method("start_trace")
    trace = unsupported_method("trace")
    ping = unsupported_method("ping")

    def flush(self) -> dict[str, int]:
        """Writes buffered records to their sinks; returns when they have them
        (the GIL is released meanwhile), with what became of the records:
        ``{"written", "dropped", "undelivered"}`` (see docs/records.md)."""
        report: dict[str, int] = json.loads(self._native.flush())
        return report

    def shutdown(self) -> dict[str, int]:
        """Flushes (bounded by ``shutdown_timeout_ms``), stops all background
        work and refuses further governed calls; returns the report as
        ``flush`` does (records still undelivered are lost, and counted in
        ``stats()["records_undelivered"]``). Safe to call twice."""
        report: dict[str, int] = json.loads(self._native.shutdown(self._shutdown_timeout_ms))
        return report

    def stats(self) -> dict[str, int]:
        """Counters: decisions, allowed, blocked, warned, records written and
        dropped, policy warnings, bypassed, remote decisions, policy syncs."""
        raw: dict[str, int] = json.loads(self._native.stats())
        return {_snake(k): v for k, v in raw.items()}

    def __enter__(self) -> Execlave:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- for the integrations ------------------------------------------

    def _enforce_request(
        self,
        agent_id: object,
        tools: object,
        arguments: Mapping[str, Any] | None,
        environment: object,
        metadata: object,
    ) -> tuple[RegistrationKey, list[str], Mapping[str, Any] | None]:
        """Checks ``enforce_policy``'s arguments: the registration key, the
        tool names and the arguments to decide."""
        if tools is None:
            raise ExeclaveTypeError(
                "enforce_policy: tools is required: this SDK decides tool calls; pass "
                'tools=["tool_name"] (and the call\'s arguments=...)'
            )
        if isinstance(tools, str) or not isinstance(tools, Sequence) or len(tools) == 0:
            raise ExeclaveTypeError("enforce_policy: tools must be a non-empty list of tool names")
        for tool in tools:
            check_tool_name(tool)
        if environment is not None and environment != self._environment:
            raise ExeclaveValueError(
                f"enforce_policy: environment={escape(environment)!r} differs from the client's "
                f"({self._environment!r}); decisions use the client's environment: create an "
                "Execlave client for that environment"
            )
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise ExeclaveTypeError(f"enforce_policy: metadata must be a dict, got {type(metadata).__name__}")
            other = sorted(str(k) for k in metadata if k != "toolArguments")
            if other:
                raise ExeclaveValueError(
                    "enforce_policy: metadata keys other than toolArguments are not supported "
                    f"({escape(', '.join(other))}): policies decide on the tool and its arguments"
                )
            if "toolArguments" in metadata:
                if arguments is not None:
                    raise ExeclaveValueError(
                        "enforce_policy: arguments given twice (arguments= and metadata['toolArguments'])"
                    )
                arguments = metadata["toolArguments"]
        return self._registration_key(agent_id, None, None, True), list(tools), arguments

    def _registration_key(
        self, agent_id: object, session_id: object, user_id: object, enforce: bool
    ) -> RegistrationKey:
        """Checks who calls are made for; raises before anything is
        registered."""
        if not isinstance(agent_id, str):
            raise ExeclaveTypeError(
                f'agent_id must be a lowercase kebab-case string such as "ops-agent", got {type(agent_id).__name__}'
            )
        for name, value in (("session_id", session_id), ("user_id", user_id)):
            if value is not None and not isinstance(value, str):
                raise ExeclaveTypeError(f"{name} must be a string, got {type(value).__name__}")
        return (agent_id, session_id, user_id, enforce)  # type: ignore[return-value]

    def _acquire(self, key: RegistrationKey) -> int:
        """The handle of registration ``key``, counted: each acquire is
        matched by one ``_release``."""
        reg = self._registrations.get(key)
        if reg is None:
            try:
                handle = self._native.register_agent(*key)
            except ExeclaveError as err:
                raise _python_error(err) from err
            reg = self._registrations[key] = [handle, 0]
            self._agent_of[handle] = key[0]
        elif reg[1] == 0:
            self._idle.pop(key, None)
        reg[1] += 1
        return reg[0]

    def _release(self, key: RegistrationKey, keep_idle: bool = False) -> None:
        """Undoes one ``_acquire``. The last use frees the registration in
        the core, unless ``keep_idle`` (an ``enforce_policy`` agent): it then
        waits for reuse among the ``MAX_IDLE_REGISTRATIONS`` most recently
        released."""
        reg = self._registrations.get(key)
        if reg is None or reg[1] == 0:
            return
        reg[1] -= 1
        if reg[1] > 0:
            return
        if not keep_idle:
            self._free(key)
            return
        self._idle[key] = None
        if len(self._idle) > MAX_IDLE_REGISTRATIONS:
            self._free(next(iter(self._idle)))

    def _free(self, key: RegistrationKey) -> None:
        self._idle.pop(key, None)
        reg = self._registrations.pop(key, None)
        if reg is not None:
            self._agent_of.pop(reg[0], None)
            self._native.release_agent(reg[0])

    def _wait_blocking(self, pending: Awaitable[int | dict[str, Any]]) -> int | dict[str, Any]:
        """Waits on this thread for a decision that must wait (first sync,
        the control plane). The wait runs on a helper thread's own event
        loop, so it works with or without a loop running here."""
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        if in_loop and not self._warned_blocking_wait:
            self._warned_blocking_wait = True
            logger.warning(
                "enforce_policy waited for a decision (first policy sync or the control plane) inside a "
                "running event loop, blocking the loop meanwhile; use await exe.aenforce_policy(...) there"
            )
        box: dict[str, Any] = {}

        async def awaited() -> int | dict[str, Any]:
            return await pending

        def run() -> None:
            try:
                box["value"] = asyncio.run(awaited())
            except BaseException as err:  # handed to the caller below
                box["error"] = err

        waiter = threading.Thread(target=run, name="execlave-enforce-wait", daemon=True)
        waiter.start()
        waiter.join()
        if "error" in box:
            raise box["error"]
        value: int | dict[str, Any] = box["value"]
        return value

    def _decide(
        self,
        handle: int,
        tool: str,
        args_json: str | None,
        track: bool,
        input: str | None = None,
        request_state: str | None = None,
    ) -> int | dict[str, Any] | Awaitable[int | dict[str, Any]]:
        """Decides one call. Returns the ticket of an allowed call with nothing
        to report (0: nothing is recorded), else the outcome of an allowed
        call; raises the halt error of a refused one. Local decisions are
        synchronous; only a call that must wait for the first policy sync or
        ask the control plane returns an awaitable. ``request_state``: the
        call is a round of a multi-round call, sent again with it; whatever
        record the decision makes is linked to the earlier rounds'."""
        try:
            if request_state is None:
                answer = self._native.decide(handle, tool, args_json, track)
            else:
                answer = self._native.decide(handle, tool, args_json, track, request_state)
        except UnicodeEncodeError as cause:
            # A lone surrogate: not text any MCP transport could carry.
            raise ExeclaveValueError(
                f"tool name or arguments of tool \"{escape(tool)}\" are not valid Unicode text; the call was not sent"
            ) from cause
        if isinstance(answer, int):
            return answer
        return self._settle(json.loads(answer), handle, tool, args_json, track, input, request_state)

    def _settle(
        self,
        outcome: dict[str, Any],
        handle: int,
        tool: str,
        args_json: str | None,
        track: bool,
        input: str | None,
        request_state: str | None = None,
    ) -> dict[str, Any] | Awaitable[int | dict[str, Any]]:
        kind = outcome.get("kind")
        if kind == "wait_for_sync":
            return self._after_sync(handle, tool, args_json, track, input, request_state)
        if kind == "ask_server":
            return self._ask_server(int(outcome["ticket"]), handle, tool, args_json, track, input, request_state)
        if kind == "ask_approver":
            return self._ask_approver(outcome, handle, tool, args_json, track, input, request_state)
        error = halt_error(outcome)
        if error is not None:
            approval_refused(error)
            raise error
        bypass = outcome.get("bypass")
        if bypass:
            self._report_bypass(str(bypass), tool)
        approval = outcome.get("approval")
        if approval is not None:
            approval_granted(approval)
        return outcome

    async def _after_sync(
        self, handle: int, tool: str, args_json: str | None, track: bool, input: str | None, request_state: str | None
    ) -> int | dict[str, Any]:
        await _native_future(lambda done: self._native.wait_for_sync(handle, done))
        outcome = self._decide(handle, tool, args_json, track, input, request_state)
        if isinstance(outcome, (int, dict)):
            return outcome
        return await outcome

    async def _ask_server(
        self,
        ticket: int,
        handle: int,
        tool: str,
        args_json: str | None,
        track: bool,
        input: str | None,
        request_state: str | None,
    ) -> int | dict[str, Any]:
        try:
            answer = await _native_future(lambda done: self._native.decide_remote(ticket, input, done))
        except asyncio.CancelledError:
            # The caller's task was cancelled (say while a human was asked):
            # the core drops the call, sends nothing more for it and records
            # it as cancelled; its wait ends.
            self._native.cancel(ticket)
            raise
        outcome = self._settle(json.loads(answer), handle, tool, args_json, track, input, request_state)
        if isinstance(outcome, dict):
            return outcome
        return await outcome

    async def _ask_approver(
        self,
        outcome: dict[str, Any],
        handle: int,
        tool: str,
        args_json: str | None,
        track: bool,
        input: str | None,
        request_state: str | None,
    ) -> int | dict[str, Any]:
        """A local ``require_approval`` policy held the call back: ask the
        approver (bounded by ``approval_timeout_ms``; cancelling the task
        ends the wait), tell the core, and go on with what it decides."""
        ticket = int(outcome["ticket"])
        request = {
            "agent_id": self._agent_of.get(handle),
            "tool": tool,
            "arguments": {} if args_json is None else json.loads(args_json),
            "violations": outcome.get("violations") or [],
            "request_id": f"local-{ticket}",
        }
        assert self._approver is not None  # the core asks only when there is one
        approval_asked_locally()
        try:
            verdict = await ask_approver(self._approver, request, self._approval_timeout_ms)
        except asyncio.CancelledError:
            self._native.cancel(ticket)
            raise
        answer = json.loads(self._native.settle_local_approval(ticket, verdict.kind, verdict.text))
        try:
            settled = self._settle(answer, handle, tool, args_json, track, input, request_state)
        except ApprovalVerificationError as error:
            if verdict.error is not None:
                error.cause = verdict.error
                raise error from verdict.error
            raise
        if isinstance(settled, dict):
            return settled
        return await settled

    def _report_bypass(self, reason: str, tool: str) -> None:
        # The core has said it (the first always, then with `debug`).
        if self._on_bypass is None:
            return
        try:
            self._on_bypass(
                {"reason": reason, "tool": tool, "timestamp": datetime.now(timezone.utc).isoformat()}
            )
        except Exception as err:  # a failing callback must not change the call's fate
            logger.warning("on_enforcement_bypassed raised %s: %s", type(err).__name__, escape(err))

    def _refused_by_name(self, handle: int, names: list[str]) -> list[bool]:
        """For each name, whether the agent's policies refuse it by name
        alone; the refused ones count in ``stats()["tools_hidden"]``."""
        return self._native.refused_by_name(handle, names)

    def _refuse_by_host(
        self,
        handle: int,
        tool: str,
        args_json: str | None,
        violations: list[dict[str, Any]],
        request_state: str | None = None,
    ) -> PolicyBlockedError:
        """Records a call refused by a check of the integration's own (pinned
        tool definitions) and returns the error to raise. ``request_state``:
        as in ``_decide``."""
        message = self._native.refuse_by_host(handle, tool, args_json, json.dumps(violations), request_state)
        return PolicyBlockedError(message, violations)

    def _open_next_round(self, ticket: int, request_state: str) -> None:
        """The tracked call ``ticket`` was answered "input required" with
        ``request_state``: the call sent again with it is its next round."""
        self._native.open_next_round(ticket, request_state)

    def _complete(
        self, ticket: int, ending: int, text: str | None, error_type: str | None = None, input: str | None = None
    ) -> None:
        self._native.complete(ticket, ending, text, error_type, input)


def ticket_of(outcome: int | dict[str, Any]) -> int:
    return outcome if isinstance(outcome, int) else int(outcome.get("ticket") or 0)


def _shutdown_native(native: _native.NativeGovernor, timeout_ms: int) -> None:
    try:
        native.shutdown(timeout_ms)
    except Exception:
        pass


def _after_fork_in_multiprocessing(client: Execlave) -> None:
    """In a ``multiprocessing`` child (after its finalizers were reset): its
    exit flushes the client. Such a child ends with ``os._exit``, which
    skips ``atexit``, but runs ``multiprocessing``'s finalizers first."""
    from multiprocessing import util

    util.Finalize(None, _shutdown_native, (client._native, client._shutdown_timeout_ms), exitpriority=0)


def _watch_multiprocessing(client: Execlave) -> None:
    """Has ``multiprocessing`` flush ``client`` at the exit of the children
    it forks, when the application uses ``multiprocessing`` (imported)."""
    if "multiprocessing" not in sys.modules or getattr(client, "_mp_watched", False):
        return
    from multiprocessing import util

    util.register_after_fork(client, _after_fork_in_multiprocessing)
    client._mp_watched = True  # type: ignore[attr-defined]


def _before_fork() -> None:
    for client in list(_live):
        _watch_multiprocessing(client)


def _after_fork_in_child() -> None:
    """``fork()`` copies only the calling thread: the core's runtime has no
    threads here. Each client starts its background work again (policy
    sync, kill switch, record delivery) with the parent's last policy set.
    A client that cannot is shut down (its calls are refused), and says so:
    a forked process is governed, or it is told it is not."""
    for client in list(_live):
        try:
            client._native.restart_after_fork()
        except Exception as err:
            logger.error(
                "this forked process could not restart Execlave's background work (%s); "
                "the client is shut down and refuses every call",
                escape(err),
            )
            _shutdown_native(client._native, 0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


@atexit.register
def _at_exit() -> None:
    # Interpreter exit flushes what is buffered, bounded by each client's
    # shutdown timeout. The core's threads are not Python threads: they
    # never keep the interpreter alive.
    for client in list(_live):
        try:
            client.shutdown()
        except Exception:
            pass
    # Clients collected without shutdown() deliver their records on
    # threads of their own (see the core's lifetime module): give them the
    # same bound before the process ends.
    try:
        _native.wait_for_drains(DEFAULT_SHUTDOWN_TIMEOUT_MS)
    except Exception:
        pass
