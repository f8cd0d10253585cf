"""Governance for the MCP Python SDK's ``ClientSession``.

    session = ClientSession(read, write)
    instrument_mcp_session(session, exe, agent_id="ops-agent")

Every ``tools/call`` the session sends, through ``call_tool`` or a raw
``send_request``, is checked by the Rust core before it is sent; a refused
call raises an ``EnforcementHaltError`` (usually ``PolicyBlockedError``) and
the server is never contacted. Each call is checked exactly once.

A ``tools/call`` sent again with ``request_state`` after an
``input_required`` answer (mcp 2.x, protocol 2026-07-28) is checked again
as a round of its call, and its record, or its refusal's, is linked to the
earlier rounds'.

Options (the Node SDK's, in snake_case): ``hide_blocked_tools`` leaves the
tools the policies refuse by name out of ``tools/list``; ``on_block="result"``
turns a policy block into an ``isError`` result; ``tool_pins`` pins the
tools' definitions in a lockfile shared with the Node SDK.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal, TypeVar

from .._arguments_json import encode as encode_flat
from .._governance import NOT_FLAT, check_tool_name, flat_copy, snapshot_arguments
from .._log import escape, logger
from ..client import ANSWERED, ANSWERED_IS_ERROR, THREW, Execlave, ticket_of
from ..errors import ExeclaveError, ExeclaveTypeError, ExeclaveValueError, PolicyBlockedError
from ._in_band import blocked_call_result
from ._otel import tool_call_tracing
from ._tool_outputs import scan_output
from ._tool_pins import ToolPins
from ._tool_visibility import without_refused_tools

__all__ = ["instrument_mcp_session", "instrument_mcp_client"]

S = TypeVar("S")

_MISSING: Any = object()


class _Checked:
    """A call ``call_tool`` checked, on its way down to ``send_request``,
    which must then let exactly this one request through unchecked."""

    __slots__ = ("session", "name", "arguments", "used")

    def __init__(self, session: object, name: str, arguments: dict[str, Any] | None) -> None:
        self.session = session
        self.name = name
        self.arguments = arguments
        self.used = False


# Per task (asyncio copies contexts per task), so concurrent calls on one
# session cannot take each other's pass.
_checked: ContextVar[_Checked | None] = ContextVar("execlave_checked_call", default=None)

# Set while an instrumented session's own ``list_tools`` runs: the
# ``tools/list`` requests it sends are filtered once, on its answer, not
# again at ``send_request``.
_listing: ContextVar[object | None] = ContextVar("execlave_listing", default=None)


def instrument_mcp_session(
    session: S,
    exe: Execlave,
    *,
    agent_id: str,
    enforce: bool = True,
    session_id: str | None = None,
    user_id: str | None = None,
    hide_blocked_tools: bool = True,
    on_block: Literal["raise", "result"] = "raise",
    tool_pins: str | os.PathLike[str] | None = None,
    on_tool_change: Literal["block", "warn"] = "block",
) -> S:
    """Governs every ``tools/call`` of ``session`` for ``agent_id`` (lowercase
    kebab-case). ``enforce=False`` is monitor mode: violations become
    warnings and the call goes on (the kill switch still stops calls).

    ``hide_blocked_tools``: ``list_tools()`` and a raw ``tools/list`` leave out
    the tools the agent's policies refuse by name (counted in
    ``stats()["tools_hidden"]``). ``on_block="raise"`` (the default): a
    refused call raises. ``on_block="result"``: a policy block
    returns a ``CallToolResult`` with ``isError=True`` instead of raising
    (pauses, outages and auth errors still raise). ``tool_pins``: the path of
    a lockfile of the tools' definitions, written at first use; a changed or
    new tool is refused (rule ``definition_changed``) under
    ``on_tool_change="block"``, reported only under ``"warn"``, until
    ``execlave-pins accept <lockfile>`` pins it (docs/tool-pins.md).

    Every argument is checked first, on every call: a bad one raises
    (``ExeclaveTypeError``, a ``TypeError``, or ``ExeclaveValueError``, a
    ``ValueError``) even when ``session`` is governed already. Returns
    ``session``; a second call returns it unchanged (and warns if it names
    another agent or client: the first wrapping stays in force).

    The registration of (``agent_id``, ``session_id``, ``user_id``) is
    released when the session is collected (closed and no longer
    referenced), so that a process opening many sessions does not keep
    them all (``stats()["registrations"]`` counts them)."""
    if session is None:
        raise ExeclaveTypeError("instrument_mcp_session: session is None; pass the mcp ClientSession to govern")
    original_call_tool = getattr(session, "call_tool", None)
    if not callable(original_call_tool):
        raise ExeclaveTypeError(
            f"instrument_mcp_session: {type(session).__name__} has no call_tool method; "
            "pass an mcp ClientSession"
        )
    if not isinstance(exe, Execlave):
        raise ExeclaveTypeError(
            "instrument_mcp_session: exe must be an Execlave client, got "
            f"{'None' if exe is None else type(exe).__name__}"
        )
    for name, flag in (("enforce", enforce), ("hide_blocked_tools", hide_blocked_tools)):
        if flag is not True and flag is not False:
            # An unset setting (None, "", 0) must not turn into monitor mode.
            raise ExeclaveTypeError(f"instrument_mcp_session: {name} must be True or False, got {flag!r}")
    in_band = _blocks_in_band(on_block)
    if on_tool_change not in ("block", "warn") or type(on_tool_change) is not str:
        raise ExeclaveValueError(
            f'instrument_mcp_session: on_tool_change must be "block" or "warn", got {on_tool_change!r}'
        )
    if tool_pins is not None and not isinstance(tool_pins, (str, os.PathLike)):
        raise ExeclaveTypeError(
            f"instrument_mcp_session: tool_pins must be a path (str or os.PathLike), got {type(tool_pins).__name__}"
        )
    key = exe._registration_key(agent_id, session_id, user_id, enforce)
    if getattr(session, "_execlave_instrumented", False) is True:
        if getattr(session, "_execlave_governed_by", None) != (exe, key):
            logger.warning(
                'instrument_mcp_session: this session is governed already (agent_id "%s"); '
                "the first wrapping stays in force and this one is ignored",
                escape(getattr(session, "_execlave_governed_by", (None, ("?",)))[1][0]),
            )
        return session

    def descriptors_listed(definitions: list[str | None]) -> None:
        # The service's tool_integrity policies read what was listed.
        exe._native.set_tool_descriptors(handle, _server_name(session), definitions)

    pins = (
        None
        if tool_pins is None
        else ToolPins(tool_pins, on_tool_change, debug=exe._debug, on_listed=descriptors_listed)
    )
    handle = exe._acquire(key)
    original_send_request = getattr(session, "send_request", None)
    original_list_tools = getattr(session, "list_tools", None)
    # Where a tools/list answer is observed by the pin check: at
    # send_request (every page from the server), or at list_tools when the
    # session has no send_request to hook.
    pins_at_send = pins is not None and callable(original_send_request)

    decide = exe._decide
    by_tool = exe._decide_by_tool
    # Whether this agent's results go to the output scan (issue 22).
    scans = exe._native.scans_tool_outputs

    def refused_by_name(names: list[str]) -> list[bool]:
        return exe._refused_by_name(handle, names)

    async def list_tools(*args: Any, **kwargs: Any) -> Any:
        token = _listing.set(session)
        try:
            if pins is None:
                result = await original_list_tools(*args, **kwargs)
            else:
                # One list_tools call is one listing for the pin check.
                result = await pins.in_listing(lambda: original_list_tools(*args, **kwargs))
        finally:
            _listing.reset(token)
        if pins is not None and not pins_at_send:
            pins.observe(result)
        return without_refused_tools(result, refused_by_name) if hide_blocked_tools else result

    async def list_all_tools() -> None:
        """Every page of the server's tool list, read through this session so
        that the pin check sees it; for a call made before any list."""
        if not callable(original_list_tools):
            raise ExeclaveError("the session has no list_tools method")
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await list_tools() if cursor is None else await list_tools(params=_page_params(cursor))
            # mcp 2.x names the field next_cursor, 1.x nextCursor.
            next_cursor = getattr(page, "next_cursor", None) or getattr(page, "nextCursor", None)
            if not isinstance(next_cursor, str) or not next_cursor or next_cursor in seen:
                return  # the last page, or a server that pages in circles
            seen.add(next_cursor)
            cursor = next_cursor

    async def pin_check(name: str, snapshot: dict[str, Any] | None, text: str | None, state: str | None) -> None:
        assert pins is not None
        violation = await pins.violation(name, list_all_tools)
        if violation is not None:
            raise exe._refuse_by_host(handle, name, text, [violation], state)

    async def begin(name: str, snapshot: dict[str, Any] | None, text: str | None, state: str | None) -> int:
        """The pin check, then the decision; the call's ticket. ``state``:
        the call is a round sent again with this ``request_state``."""
        if pins is not None:
            await pin_check(name, snapshot, text, state)
        decided = decide(handle, name, text, True) if state is None else decide(handle, name, text, True, None, state)
        return decided if type(decided) is int else await settled(decided)

    async def settled(decided: Any) -> int:
        """The ticket of a decision that was not a bare ticket: an outcome to
        report, or one still to be awaited (first sync, the control plane)."""
        return ticket_of(decided if isinstance(decided, dict) else await decided)

    async def call_tool(*args: Any, **kwargs: Any) -> Any:
        # One frame of ours between the caller and the original call_tool,
        # and no call of ours that the default options do not need: each
        # frame is resumed at every step of the call.
        if len(args) == 2 and not kwargs and type(args[0]) is str:
            name, arguments = args  # call_tool(name, arguments), the common shape
            rest: tuple[Any, ...] = ()
            state = None
        else:
            name, arguments, rest = _split_call(args, kwargs)
            # A round of a multi-round call (mcp 2.x), sent again: always
            # decided in full, and linked to the earlier rounds.
            state = _round_of(kwargs.get("request_state"))
        if type(name) is not str or not name:
            check_tool_name(name)  # raises, but for a str subclass
        # The shortcut: plain arguments copied without JSON, and the tool
        # name alone deciding the call when the policies would not read its
        # arguments. Anything else takes the full decision.
        ticket: int | None = None
        snapshot: dict[str, Any] | None = None
        if not options and state is None and type(name) is str and name.isascii():
            copy = flat_copy(arguments)
            if copy is not NOT_FLAT:
                snapshot = copy
                ticket = by_tool(handle, name)
        by_name = ticket is not None
        if ticket is None:
            snapshot, text = snapshot_arguments(name, arguments)
            if options:
                try:
                    ticket = await begin(name, snapshot, text, state)
                except PolicyBlockedError as err:
                    if in_band:
                        return blocked_call_result(err)
                    raise
            else:
                decided = decide(handle, name, text, True) if state is None else decide(handle, name, text, True, None, state)
                ticket = decided if type(decided) is int else await settled(decided)
        # The pass for this very call at send_request.
        token = _checked.set(_Checked(session, name, snapshot))
        try:
            result = await original_call_tool(name, snapshot, *rest, **kwargs)
        except BaseException as err:
            if ticket:
                input = encode_flat(snapshot) if by_name and snapshot is not None else None
                exe._complete(ticket, THREW, str(err) or type(err).__name__, type(err).__name__, input)
            raise
        finally:
            _checked.reset(token)
        if scans(handle):
            refused = await scan_output(exe, handle, ticket or 0, name, result)
            if refused is not None:
                # Neither the caller nor the record gets the result.
                if ticket:
                    input = encode_flat(snapshot) if by_name and snapshot is not None else None
                    exe._complete(ticket, THREW, str(refused), type(refused).__name__, input)
                if in_band and isinstance(refused, PolicyBlockedError):
                    return blocked_call_result(refused)
                raise refused
        if ticket:
            # Only a caller that allows it gets an input_required answer
            # back (the session raises otherwise): ordinary calls skip this.
            if kwargs and kwargs.get("allow_input_required") is True:
                _opens_round(exe, ticket, result)
            _record_result(exe, ticket, result, encode_flat(snapshot) if by_name and snapshot is not None else None)
        return result

    def send_request(request: Any, *args: Any, **kwargs: Any) -> Any:
        passed = _checked.get()
        if passed is not None and not passed.used and passed.session is session:
            call = _tools_call(request)
            if call is not None and passed.name == call[0] and passed.arguments == call[1]:
                # The call_tool above checked this very call, and awaits it
                # at once: hand it the original coroutine, with no frame of
                # ours in the way of each of its resumptions.
                passed.used = True
                return original_send_request(request, *args, **kwargs)
        return governed_send_request(request, *args, **kwargs)

    async def governed_send_request(request: Any, *args: Any, **kwargs: Any) -> Any:
        # Inspected when awaited, not when called: a request changed in
        # between is checked as it will be sent.
        call = _tools_call(request)
        if call is None:
            if listing_hooked and _is_tools_list(request):
                return await listed(request, *args, **kwargs)
            return await original_send_request(request, *args, **kwargs)
        name, arguments = call
        check_tool_name(name)
        snapshot, text = snapshot_arguments(name, arguments)
        state = _round_of(_request_state(request))
        request = _with_arguments(request, snapshot)
        if options:
            try:
                ticket = await begin(name, snapshot, text, state)
            except PolicyBlockedError as err:
                if in_band:
                    return _as_requested(blocked_call_result(err), args, kwargs)
                raise
        else:
            decided = decide(handle, name, text, True, None, state)
            ticket = decided if type(decided) is int else await settled(decided)
        try:
            result = await original_send_request(request, *args, **kwargs)
        except BaseException as err:
            if ticket:
                exe._complete(ticket, THREW, str(err) or type(err).__name__, type(err).__name__)
            raise
        if scans(handle):
            refused = await scan_output(exe, handle, ticket or 0, name, result)
            if refused is not None:
                if ticket:
                    exe._complete(ticket, THREW, str(refused), type(refused).__name__)
                if in_band and isinstance(refused, PolicyBlockedError):
                    return _as_requested(blocked_call_result(refused), args, kwargs)
                raise refused
        if ticket:
            _opens_round(exe, ticket, result)
            _record_result(exe, ticket, result)
        return result

    async def listed(request: Any, *args: Any, **kwargs: Any) -> Any:
        """A tools/list sent through send_request: the pin check sees the
        server's whole page; a raw request (not list_tools' own) is
        filtered here."""
        result = await original_send_request(request, *args, **kwargs)
        if pins_at_send:
            assert pins is not None
            pins.observe(result)
        if hide_blocked_tools and _listing.get() is not session:
            return without_refused_tools(result, refused_by_name)
        return result

    # Chosen once here: with the default options the call path skips the
    # pin check and the in-band block (and their coroutine).
    options = in_band or pins is not None
    listing_hooked = hide_blocked_tools or pins_at_send
    # OpenTelemetry spans, when the application has a tracer provider: the
    # traced hooks wrap the plain ones, which stay as they are otherwise.
    tracing = tool_call_tracing(key[0])
    # The span's context goes to the server in `params._meta` where the
    # session's call_tool takes a `meta` (mcp 1.x releases before it did not).
    propagates = tracing is not None and _takes_meta(original_call_tool)

    async def traced_call_tool(*args: Any, **kwargs: Any) -> Any:
        assert tracing is not None
        first = args[0] if args else kwargs.get("name")
        span = tracing.start(first.get("name") if isinstance(first, Mapping) else first)
        if propagates:
            kwargs["meta"] = span.trace_meta(kwargs.get("meta"))
        try:
            with span.current():
                result = await call_tool(*args, **kwargs)
        except BaseException as err:
            span.threw(err)
            raise
        span.answered(result)
        return result

    async def traced_send_request(request: Any, *args: Any, **kwargs: Any) -> Any:
        """A raw tools/call (not the one call_tool is sending) gets a span."""
        assert tracing is not None
        call = _tools_call(request)
        if call is None or _checked.get() is not None:
            return await send_request(request, *args, **kwargs)
        span = tracing.start(call[0])
        try:
            with span.current():
                result = await send_request(request, *args, **kwargs)
        except BaseException as err:
            span.threw(err)
            raise
        span.answered(result)
        return result

    try:
        setattr(session, "call_tool", call_tool if tracing is None else traced_call_tool)
        if callable(original_send_request):
            setattr(session, "send_request", send_request if tracing is None else traced_send_request)
        if callable(original_list_tools) and (hide_blocked_tools or pins is not None):
            setattr(session, "list_tools", list_tools)
        setattr(session, "_execlave_instrumented", True)
        setattr(session, "_execlave_governed_by", (exe, key))
    except (AttributeError, TypeError) as cause:
        exe._release(key)
        if callable(original_send_request):
            try:
                setattr(session, "call_tool", original_call_tool)
            except (AttributeError, TypeError):
                pass
        raise ExeclaveTypeError(
            f"instrument_mcp_session: cannot instrument {type(session).__name__}: {cause}"
        ) from cause
    # Released when the session goes: nothing can call through its hooks
    # any more, so the handle may be given out again.
    weakref.finalize(session, exe._release, key)
    return session


instrument_mcp_client = instrument_mcp_session
"""The official SDK 1.x's name of ``instrument_mcp_session``."""


def _takes_meta(call_tool: Any) -> bool:
    import inspect

    try:
        return "meta" in inspect.signature(call_tool).parameters
    except (TypeError, ValueError):
        return False


def _blocks_in_band(on_block: object) -> bool:
    """Validates ``on_block``; True for ``"result"``."""
    if on_block == "throw" and type(on_block) is str:
        raise ExeclaveValueError(
            'instrument_mcp_session: on_block="throw" is the Node SDK\'s spelling; in Python use "raise"'
        )
    if on_block not in ("raise", "result") or type(on_block) is not str:
        raise ExeclaveValueError(f'instrument_mcp_session: on_block must be "raise" or "result", got {on_block!r}')
    return on_block == "result"


def _split_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, tuple[Any, ...]]:
    """Tool name, arguments and the other positional arguments of a
    ``call_tool(name, arguments=None, ...)`` or ``call_tool({"name": ...,
    "arguments": ...}, ...)`` call; removes name and arguments from
    ``kwargs``, which otherwise pass through unchanged."""
    if len(args) == 2 and not kwargs and type(args[0]) is str:
        return args[0], args[1], ()  # the common call_tool(name, arguments)
    if args:
        first, rest = args[0], args[1:]
    else:
        first, rest = kwargs.pop("name", _MISSING), ()
        if first is _MISSING:
            raise ExeclaveError("call_tool: no tool name given; the call was not sent")
    if isinstance(first, Mapping):
        if "arguments" in kwargs:
            raise ExeclaveError("call_tool: arguments given twice (in the dict and as a keyword); the call was not sent")
        return first.get("name"), first.get("arguments"), rest
    if rest:
        if "arguments" in kwargs:
            raise ExeclaveError("call_tool: arguments given twice (positional and keyword); the call was not sent")
        return first, rest[0], rest[1:]
    return first, kwargs.pop("arguments", None), rest


def _tools_call(request: Any) -> tuple[Any, Any] | None:
    """Name and arguments of a ``tools/call`` request (an mcp
    ``ClientRequest``, a ``CallToolRequest`` or a dict), or None for any other
    request."""
    if type(request) is dict:
        if request.get("method") != "tools/call":
            return None
        params = request.get("params")
        if not isinstance(params, Mapping):
            return None, None
        return params.get("name"), params.get("arguments")
    # Anything else the session can send is a pydantic model (a Mapping that
    # is not a dict has no `model_dump` and could not be sent at all). A
    # model keeps its fields in __dict__; `getattr(request, "root", ...)` on
    # one without that field goes through pydantic's __getattr__ and raises
    # inside (~3 µs on every request).
    fields = getattr(request, "__dict__", None)
    root = fields.get("root", request) if isinstance(fields, dict) else getattr(request, "root", request)
    if getattr(root, "method", None) != "tools/call":
        return None
    params = getattr(root, "params", None)
    return getattr(params, "name", None), getattr(params, "arguments", None)


def _request_state(request: Any) -> Any:
    """The ``request_state`` (``requestState`` on the wire) of a
    ``tools/call`` request, or None."""
    if type(request) is dict:
        params = request.get("params")
        return params.get("requestState") if isinstance(params, Mapping) else None
    fields = getattr(request, "__dict__", None)
    root = fields.get("root", request) if isinstance(fields, dict) else getattr(request, "root", request)
    params = getattr(root, "params", None)
    params_fields = getattr(params, "__dict__", None)
    return params_fields.get("request_state") if isinstance(params_fields, dict) else None


def _round_of(state: Any) -> str | None:
    """The ``request_state`` a call was sent again with, when it is one (a
    round of a multi-round call); None for any other call."""
    return state if type(state) is str else None


def _opens_round(exe: Execlave, ticket: int, result: Any) -> None:
    """A multi-round call (protocol 2026-07-28): an answer ``input_required``
    with a ``request_state`` makes the call sent again with it this call's
    next round, and the core links their records. Called before the call is
    completed, while it is still pending in the core. Read through
    ``__dict__`` (a pydantic model) so that an ordinary answer costs a dict
    lookup; an answer that cannot be read links nothing."""
    try:
        if type(result) is dict:
            kind, state = result.get("resultType"), result.get("requestState")
        else:
            fields = getattr(result, "__dict__", None)
            if not isinstance(fields, dict):
                return
            kind, state = fields.get("result_type"), fields.get("request_state")
        if kind == "input_required" and type(state) is str:
            exe._open_next_round(ticket, state)
    except Exception:
        pass  # the record and the caller's result come first


def _page_params(cursor: str) -> Any:
    """The ``params`` of ``list_tools`` for the page at ``cursor``."""
    from mcp.types import PaginatedRequestParams

    return PaginatedRequestParams(cursor=cursor)


def _is_tools_list(request: Any) -> bool:
    """Whether ``request`` (a dict or an mcp request model) is a tools/list."""
    if type(request) is dict:
        return request.get("method") == "tools/list"
    fields = getattr(request, "__dict__", None)
    root = fields.get("root", request) if isinstance(fields, dict) else getattr(request, "root", request)
    return getattr(root, "method", None) == "tools/list"


def _as_requested(result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The in-band result as ``send_request`` would have returned it: the
    ``CallToolResult`` model when a result type was asked for, else a dict."""
    result_type = args[0] if args else kwargs.get("result_type")
    if result_type is None:
        return result.model_dump(by_alias=True, exclude_none=True)
    return result


def _with_arguments(request: Any, arguments: dict[str, Any] | None) -> Any:
    """The same request carrying ``arguments`` (the checked copy)."""
    if type(request) is dict:
        params = dict(request["params"])
        params["arguments"] = arguments
        copy = dict(request)
        copy["params"] = params
        return copy
    root = getattr(request, "root", request)
    params = root.params.model_copy(update={"arguments": arguments})
    new_root = root.model_copy(update={"params": params})
    if root is request:
        return new_root
    return request.model_copy(update={"root": new_root})


def _record_result(exe: Execlave, ticket: int, result: Any, input: str | None = None) -> None:
    """How the call ended, with its answer; ``input``: the arguments' JSON
    text of a call decided by its tool name alone."""
    # A model keeps its fields in __dict__ (mcp 2.x names this one is_error,
    # 1.x isError); getattr of the name a model lacks goes through
    # pydantic's __getattr__ and raises inside (~2 µs on every call).
    fields = getattr(result, "__dict__", None)
    if isinstance(fields, dict) and ("is_error" in fields or "isError" in fields):
        is_error = fields.get("is_error", fields.get("isError"))
    else:
        is_error = getattr(result, "isError", None)
        if is_error is None:
            is_error = getattr(result, "is_error", False)
    try:
        # The model's serializer itself: model_dump_json's own Python layer
        # costs as much again.
        serializer = getattr(type(result), "__pydantic_serializer__", None)
        if serializer is not None:
            text = serializer.to_json(result, by_alias=True, exclude_none=True).decode()
        elif hasattr(result, "model_dump_json"):
            text = result.model_dump_json(by_alias=True, exclude_none=True)
        else:
            import json

            text = json.dumps(result, default=str)
    except Exception:
        text = '"[result not serialisable]"'
    exe._complete(ticket, ANSWERED_IS_ERROR if is_error is True else ANSWERED, text, None, input)


def _server_name(session: Any) -> str:
    """The MCP server's name as it introduced itself (the descriptors' ``server``)."""
    try:
        info = getattr(session, "server_info", None)
        name = getattr(info, "name", None)
    except Exception:
        name = None
    return name if isinstance(name, str) and name else "mcp"
