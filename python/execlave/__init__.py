"""Execlave governance for AI agents: every MCP tool call checked against
policy in Rust before the server is contacted.

    from execlave import Execlave
    from execlave.integrations.mcp import instrument_mcp_session
"""

from .client import Execlave
from .errors import (
    AgentPausedError,
    EnforcementHaltError,
    EnforcementUnavailableError,
    ExeclaveAuthError,
    ExeclaveError,
    ExeclaveTypeError,
    ExeclaveValueError,
    NotSupportedError,
    PolicyBlockedError,
)

__all__ = [
    "Execlave",
    "ExeclaveError",
    "ExeclaveAuthError",
    "EnforcementHaltError",
    "PolicyBlockedError",
    "AgentPausedError",
    "EnforcementUnavailableError",
    "ExeclaveValueError",
    "ExeclaveTypeError",
    "NotSupportedError",
]

__version__ = "0.1.0"
