"""The Python half of a governed call: the arguments as the JSON text the
core checks (and the copy that is sent), and the core's outcome as the
public errors. Shared by the MCP wrapper and ``Execlave.enforce_policy``."""

from __future__ import annotations

import enum

from collections.abc import Mapping
from typing import Any, Final, Literal

from ._arguments_json import SerialisationErrors, decode, encode
from ._log import escape
from ._names import python_names
from .errors import (
    AgentPausedError,
    ApprovalTimeoutError,
    ApprovalVerificationError,
    CertificateMismatchError,
    EnforcementUnavailableError,
    ExeclaveAuthError,
    ExeclaveError,
    ExeclaveTypeError,
    ExeclaveValueError,
    PolicyBlockedError,
    PolicyDeniedError,
    ToolIntegrityError,
    _ApprovalError,
)


def check_tool_name(tool: object) -> str:
    if not isinstance(tool, str) or not tool:
        got = "an empty string" if tool == "" else type(tool).__name__
        error = ExeclaveValueError if isinstance(tool, str) else ExeclaveTypeError
        raise error(f"tool name must be a non-empty string, got {got}; the call was not sent")
    return tool


def snapshot_arguments(tool: str, arguments: object) -> tuple[dict[str, Any] | None, str | None]:
    """The arguments as they will be sent, and their JSON text, which is what
    the core checks.

    The text is written as the ``mcp`` package writes arguments (see
    ``_arguments_json``: a ``Path`` or a ``datetime`` becomes a string, NaN
    ``null``), and the copy is read back from it, so what is sent is exactly
    what was checked: neither a later mutation of the caller's dict nor a
    type with a conversion of its own can change it. What cannot be written
    (an unknown type, a cycle, a lone surrogate, nesting too deep) is
    refused with an ``ExeclaveError`` (a ``ValueError``) before anything is
    sent.
    """
    if arguments is None:
        return None, None
    if type(arguments) is not dict and not isinstance(arguments, Mapping):
        raise ExeclaveTypeError(
            f'arguments of tool "{escape(tool)}" must be a dict of argument names to values, '
            f"got {type(arguments).__name__}; the call was not sent"
        )
    for key in arguments:
        if not isinstance(key, str):
            # As mcp's own validation of the request refuses it.
            raise ExeclaveTypeError(
                f'arguments of tool "{escape(tool)}": argument names must be strings, '
                f"got {type(key).__name__}; the call was not sent"
            )
    try:
        text = encode(arguments if isinstance(arguments, dict) else dict(arguments))
        copy: dict[str, Any] = decode(text)
    except SerialisationErrors as cause:
        raise ExeclaveValueError(
            f'arguments of tool "{escape(tool)}" cannot be serialised to JSON ({escape(cause)}); '
            "the call was not sent"
        ) from cause
    return copy, text


class _Flat(enum.Enum):
    NOT = "not flat"


# What `flat_copy` returns for arguments it does not take.
NOT_FLAT: Final = _Flat.NOT

# Integers beyond 64 bits take the JSON path, which refuses what Python
# cannot write as text.
_INT_LIMIT = 1 << 64


def flat_copy(arguments: object) -> dict[str, Any] | None | Literal[_Flat.NOT]:
    """The common arguments, copied without JSON: a plain dict whose keys
    are ASCII ``str`` and whose values are ASCII ``str``, ``bool``, ``None``,
    64-bit ``int`` or finite ``float``, all of exact types. Such a copy is
    immutable below its top level and sent as it is; JSON carries each of
    its values, so it may stand for the snapshot of a call whose arguments
    the policies do not read (its text, ``encode(copy)``, is then written
    only for the record). NaN and the infinities are left out: ``mcp``
    sends them as ``null``, which the full path's copy holds.
    ``NOT_FLAT`` for anything else (which then takes ``snapshot_arguments``).
    """
    if arguments is None:
        return None
    if type(arguments) is not dict:
        return NOT_FLAT
    # Copied first, then checked: the copy is what is sent, and no other
    # code holds it.
    copy: dict[str, Any] = arguments.copy()
    for key, value in copy.items():
        if type(key) is not str or not key.isascii():
            return NOT_FLAT
        kind = type(value)
        if kind is str:
            if not value.isascii():  # O(1) in CPython; lone surrogates are not ASCII
                return NOT_FLAT
        elif kind is int:
            if not -_INT_LIMIT < value < _INT_LIMIT:
                return NOT_FLAT
        elif kind is float:
            if value - value != 0.0:  # NaN and the infinities
                return NOT_FLAT
        elif value is not None and kind is not bool:
            return NOT_FLAT
    return copy


# The core's approval failure kinds (`ApprovalFailure`) and their classes.
_APPROVAL_ERRORS: dict[str, type[_ApprovalError]] = {
    "denied": PolicyDeniedError,
    "timed_out": ApprovalTimeoutError,
    "certificate_mismatch": CertificateMismatchError,
    "unverifiable": ApprovalVerificationError,
}


def halt_error(outcome: Mapping[str, Any]) -> ExeclaveError | None:
    """The exception for an outcome that stops the call (its message comes
    from the core), or None when the call may go on."""
    kind = outcome.get("kind")
    message = python_names(str(outcome.get("message") or kind))
    if kind == "block":
        # The core names the subclass (a server tool_integrity policy).
        blocked = ToolIntegrityError if outcome.get("errorClass") == "ToolIntegrityError" else PolicyBlockedError
        return blocked(message, outcome.get("violations"), outcome.get("warnings"))
    if kind == "paused":
        return AgentPausedError(message, str(outcome.get("agentId")), outcome.get("reason"))
    if kind == "unavailable":
        reason = outcome.get("lastError") or outcome.get("reason")
        return EnforcementUnavailableError(
            message, int(outcome.get("consecutiveFailures") or 0), None if reason is None else str(reason)
        )
    if kind == "auth_failed":
        return ExeclaveAuthError(message)
    if kind == "closed" or kind == "cancelled":
        return ExeclaveError(message)
    if kind == "approval_refused":
        # An unknown kind (a newer core) still refuses, as the strictest.
        cls = _APPROVAL_ERRORS.get(str(outcome.get("failure")), ApprovalVerificationError)
        return cls(message, outcome.get("approvalRequestId"), outcome.get("reason"), outcome.get("cause"))
    if kind == "allow":
        return None
    # A kind this layer does not know must not let the call through.
    return ExeclaveError(f"unexpected decision {kind!r} from the Execlave core; the call was not sent")
