"""Governance for the MCP Python SDK's ``ClientSession``.

    session = ClientSession(read, write)
    instrument_mcp_session(session, exe, agent_id="ops-agent")

Every ``tools/call`` the session sends, through ``call_tool`` or a raw
``send_request``, is checked by the Rust core before it is sent; a refused
call raises an ``EnforcementHaltError`` (usually ``PolicyBlockedError``) and
the server is never contacted. Each call is checked exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from .._governance import check_tool_name, snapshot_arguments
from ..client import ANSWERED, ANSWERED_IS_ERROR, THREW, Execlave, ticket_of
from ..errors import ExeclaveError

__all__ = ["instrument_mcp_session"]

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


def instrument_mcp_session(
    session: S,
    exe: Execlave,
    *,
    agent_id: str,
    enforce: bool = True,
    session_id: str | None = None,
    user_id: str | None = None,
) -> S:
    """Governs every ``tools/call`` of ``session`` for ``agent_id`` (lowercase
    kebab-case). ``enforce=False`` is monitor mode: violations become
    warnings and the call goes on (the kill switch still stops calls).
    Returns ``session``; a second call returns it unchanged."""
    if session is None:
        raise ExeclaveError("instrument_mcp_session: session is None; pass the mcp ClientSession to govern")
    if getattr(session, "_execlave_instrumented", False) is True:
        return session
    original_call_tool = getattr(session, "call_tool", None)
    if not callable(original_call_tool):
        raise ExeclaveError(
            f"instrument_mcp_session: {type(session).__name__} has no call_tool method; "
            "pass an mcp ClientSession"
        )
    if not isinstance(exe, Execlave):
        raise ExeclaveError(
            "instrument_mcp_session: exe must be an Execlave client, got "
            f"{'None' if exe is None else type(exe).__name__}"
        )
    handle = exe._handle(agent_id, session_id, user_id, enforce)
    original_send_request = getattr(session, "send_request", None)

    async def call_tool(*args: Any, **kwargs: Any) -> Any:
        name, arguments, rest = _split_call(args, kwargs)
        check_tool_name(name)
        snapshot, text = snapshot_arguments(name, arguments)
        decided = exe._decide(handle, name, text, True)
        if isinstance(decided, int):
            ticket = decided
        elif isinstance(decided, dict):
            ticket = ticket_of(decided)
        else:
            ticket = ticket_of(await decided)
        token = _checked.set(_Checked(session, name, snapshot))
        try:
            result = await original_call_tool(name, snapshot, *rest, **kwargs)
        except BaseException as err:
            if ticket:
                exe._complete(ticket, THREW, str(err) or type(err).__name__, type(err).__name__)
            raise
        finally:
            _checked.reset(token)
        if ticket:
            _record_result(exe, ticket, result)
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
                return original_send_request(request, *args, **kwargs)  # type: ignore[misc]
        return governed_send_request(request, *args, **kwargs)

    async def governed_send_request(request: Any, *args: Any, **kwargs: Any) -> Any:
        # Inspected when awaited, not when called: a request changed in
        # between is checked as it will be sent.
        call = _tools_call(request)
        if call is None:
            return await original_send_request(request, *args, **kwargs)  # type: ignore[misc]
        name, arguments = call
        check_tool_name(name)
        snapshot, text = snapshot_arguments(name, arguments)
        request = _with_arguments(request, snapshot)
        decided = exe._decide(handle, name, text, True)
        if isinstance(decided, int):
            ticket = decided
        elif isinstance(decided, dict):
            ticket = ticket_of(decided)
        else:
            ticket = ticket_of(await decided)
        try:
            result = await original_send_request(request, *args, **kwargs)  # type: ignore[misc]
        except BaseException as err:
            if ticket:
                exe._complete(ticket, THREW, str(err) or type(err).__name__, type(err).__name__)
            raise
        if ticket:
            _record_result(exe, ticket, result)
        return result

    try:
        setattr(session, "call_tool", call_tool)
        if callable(original_send_request):
            setattr(session, "send_request", send_request)
        setattr(session, "_execlave_instrumented", True)
    except (AttributeError, TypeError) as cause:
        if callable(original_send_request):
            try:
                setattr(session, "call_tool", original_call_tool)
            except (AttributeError, TypeError):
                pass
        raise ExeclaveError(
            f"instrument_mcp_session: cannot instrument {type(session).__name__}: {cause}"
        ) from cause
    return session


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


def _record_result(exe: Execlave, ticket: int, result: Any) -> None:
    is_error = getattr(result, "isError", None)
    if is_error is None:
        is_error = getattr(result, "is_error", False)
    try:
        if hasattr(result, "model_dump_json"):
            text = result.model_dump_json(by_alias=True, exclude_none=True)
        else:
            import json

            text = json.dumps(result, default=str)
    except Exception:
        text = '"[result not serialisable]"'
    exe._complete(ticket, ANSWERED_IS_ERROR if is_error is True else ANSWERED, text)
