"""Who watches the governed call under way: the tool call's OpenTelemetry
span, while the call runs in its context (``integrations/_otel.py``), so
that the client can tell it about approvals as they happen (the Node SDK's
``call.observer``). A context variable, since the decision runs inside the
caller's task, several calls to one client side by side."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Protocol

#: The id of an approval asked of the client's own approver.
LOCAL_APPROVAL_ID = "local"


class CallObserver(Protocol):
    def approval_requested(self, approval_id: str) -> None: ...

    def approval_granted(self, approval_id: str, waited_ms: float) -> None: ...

    def approval_refused(self, error: Any) -> None: ...


current_call_observer: ContextVar[CallObserver | None] = ContextVar("execlave_call_observer", default=None)


def approval_granted(approval: object) -> None:
    """The call got ``approval`` (the core's note: ``id``, ``waitedMs``)."""
    observer = current_call_observer.get()
    if observer is None or not isinstance(approval, dict):
        return
    approval_id = str(approval.get("id"))
    try:
        # A service approval is only known here once decided.
        if approval_id != LOCAL_APPROVAL_ID:
            observer.approval_requested(approval_id)
        observer.approval_granted(approval_id, float(approval.get("waitedMs") or 0))
    except Exception:  # noqa: BLE001 - an observer must not change the call's fate
        pass


def approval_refused(error: Any) -> None:
    """The call needed an approval and did not get one (``error``: one of
    the four approval errors, with ``approval_request_id``)."""
    observer = current_call_observer.get()
    approval_id = getattr(error, "approval_request_id", None)
    if observer is None or approval_id is None:
        return
    try:
        if approval_id != LOCAL_APPROVAL_ID:
            observer.approval_requested(str(approval_id))
        observer.approval_refused(error)
    except Exception:  # noqa: BLE001 - as above
        pass


def approval_asked_locally() -> None:
    """The client's approver is being asked."""
    observer = current_call_observer.get()
    if observer is None:
        return
    try:
        observer.approval_requested(LOCAL_APPROVAL_ID)
    except Exception:  # noqa: BLE001 - as above
        pass
