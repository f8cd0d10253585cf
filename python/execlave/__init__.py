"""Execlave governance for AI agents: every MCP tool call checked against
policy in Rust before the server is contacted.

    from execlave import Execlave
    from execlave.integrations.mcp import instrument_mcp_session
"""

from .client import Execlave
from .errors import (
    AgentPausedError,
    ApprovalTimeoutError,
    ApprovalVerificationError,
    CertificateMismatchError,
    EnforcementHaltError,
    EnforcementUnavailableError,
    ExeclaveAuthError,
    ExeclaveError,
    ExeclaveTypeError,
    ExeclaveValueError,
    NotSupportedError,
    PolicyBlockedError,
    PolicyDeniedError,
    ToolIntegrityError,
)

__all__ = [
    "Execlave",
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

# The Cargo workspace version, compiled into the extension (one source).
from ._native import __version__ as __version__  # noqa: E402
