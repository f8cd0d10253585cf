"""The exceptions of the Execlave SDK.

``ExeclaveError`` is the base of all of them; the MCP wrapper re-raises every
``EnforcementHaltError`` (governance stopped the call) and never swallows one.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ExeclaveError",
    "ExeclaveAuthError",
    "EnforcementHaltError",
    "PolicyBlockedError",
    "ToolIntegrityError",
    "AgentPausedError",
    "EnforcementUnavailableError",
    "PolicyDeniedError",
    "ApprovalTimeoutError",
    "CertificateMismatchError",
    "ApprovalVerificationError",
    "ExeclaveValueError",
    "ExeclaveTypeError",
    "NotSupportedError",
]


class ExeclaveError(Exception):
    """Anything the SDK refuses or cannot do: bad options, an invalid policy,
    arguments JSON cannot carry, a client that was shut down, an internal
    error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExeclaveValueError(ExeclaveError, ValueError):
    """A bad value: an option, a policy, tool arguments JSON cannot carry.
    Caught by ``except ValueError`` as by ``except ExeclaveError``."""


class ExeclaveTypeError(ExeclaveError, TypeError):
    """An argument of the wrong type (``enforce=None``, a session that is
    not an MCP session). Caught by ``except TypeError`` as by ``except
    ExeclaveError``."""


class NotSupportedError(ExeclaveError, NotImplementedError):
    """A name of the official Python SDK 1.x that this SDK does not
    implement; the message says what to use instead
    (``docs/migration-python.md``)."""


class ExeclaveAuthError(ExeclaveError):
    """The control plane rejected the API key: a configuration error."""


class EnforcementHaltError(ExeclaveError):
    """Governance stopped the call; the server was not contacted."""


class PolicyBlockedError(EnforcementHaltError):
    """A policy refused the call. ``violations`` and ``warnings`` are lists of
    plain dicts with the API's keys (``policyId``, ``policyName``,
    ``policyType``, ``enforcementMode``, ``severity``, ``message``, ``tool``,
    ``rule``, ``argument``), so ``json.dumps(exc.violations)`` works."""

    def __init__(
        self,
        message: str,
        violations: list[dict[str, Any]] | None = None,
        warnings: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.violations: list[dict[str, Any]] = list(violations or [])
        self.warnings: list[dict[str, Any]] = list(warnings or [])


class ToolIntegrityError(PolicyBlockedError):
    """A server ``tool_integrity`` policy refused the call: the definitions
    of the tools the agent uses differ from its baseline. ``tool_violations``:
    the violations of that type (each may name the changed tools)."""

    def __init__(
        self,
        message: str,
        violations: list[dict[str, Any]] | None = None,
        warnings: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, violations, warnings)
        self.tool_violations: list[dict[str, Any]] = [
            v for v in self.violations if isinstance(v, dict) and v.get("policyType") == "tool_integrity"
        ]


class AgentPausedError(EnforcementHaltError):
    """The kill switch is on for this agent."""

    def __init__(self, message: str, agent_id: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.agent_id = agent_id
        self.reason = reason


class EnforcementUnavailableError(EnforcementHaltError):
    """No decision could be had (the control plane is unreachable and no policy
    set is known) and ``enforcement_on_outage`` is ``"fail_closed"``."""

    def __init__(
        self,
        message: str,
        consecutive_failures: int = 0,
        last_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.consecutive_failures = consecutive_failures
        self.last_error = last_error


class _ApprovalError(EnforcementHaltError):
    """A call that needed a human's approval and did not get one that counts.
    ``approval_request_id`` names the request (``"local"`` for the client's
    own approver), ``reason`` is the approver's or the server's, ``cause``
    what went wrong while checking."""

    def __init__(
        self,
        message: str,
        approval_request_id: str | None = None,
        reason: str | None = None,
        cause: object = None,
    ) -> None:
        super().__init__(message)
        self.approval_request_id = approval_request_id
        self.reason = reason
        self.cause = cause


class PolicyDeniedError(_ApprovalError):
    """The approval was denied (by a person, or the approver)."""


class ApprovalTimeoutError(_ApprovalError):
    """The approval expired, or no decision came within ``approval_timeout_ms``."""


class CertificateMismatchError(_ApprovalError):
    """The server says the approval's certificate does not fit this call
    (``reason``: ``action_context_mismatch``, ``certificate_already_used``, ...)."""


class ApprovalVerificationError(_ApprovalError):
    """The approval could not be checked (``cause``): the call was refused,
    never let through."""
