"""The host's half of local approvals (the core holds the call, its record
and the counts): ask the client's approver, bounded by
``approval_timeout_ms``, and read its answer strictly. Anything but
``{"approved": True}`` refuses the call."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, Union

DEFAULT_APPROVAL_TIMEOUT_MS = 30 * 60 * 1000

#: An approver: given ``{"agent_id", "tool", "arguments", "violations",
#: "request_id"}``, it answers ``{"approved": True}`` or
#: ``{"approved": False, "reason": "..."}`` (a coroutine function, or a plain
#: function).
Approver = Callable[[dict[str, Any]], Union[Awaitable[Mapping[str, Any]], Mapping[str, Any]]]


class Verdict(NamedTuple):
    """The core's verdict kinds: approved, denied (text: the reason), failed
    (text: why; error: what the approver raised), timed_out."""

    kind: str
    text: str | None = None
    error: BaseException | None = None


async def ask_approver(approver: Approver, request: dict[str, Any], timeout_ms: int) -> Verdict:
    """Asks ``approver``; never raises but for the caller's own cancellation."""
    try:
        answer = await asyncio.wait_for(_call(approver, request), timeout_ms / 1000)
    except asyncio.TimeoutError:
        return Verdict("timed_out")
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of the approver refuses
        return Verdict("failed", f"the approver raised {type(error).__name__}: {error}", error)
    return read_answer(answer)


async def _call(approver: Approver, request: dict[str, Any]) -> object:
    answer = approver(request)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer


def read_answer(answer: object) -> Verdict:
    """The verdict of an approver's answer: only the documented shapes count."""
    if isinstance(answer, Mapping):
        approved = answer.get("approved")
        reason = answer.get("reason")
        if approved is True:
            return Verdict("approved")
        if approved is False and (reason is None or isinstance(reason, str)):
            return Verdict("denied", reason)
    shown = repr(answer)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return Verdict(
        "failed",
        f'the approver answered {shown}; expected {{"approved": True}} or {{"approved": False, "reason": ...}}',
    )
