"""Names of the official Python SDK 1.x (``execlave-sdk`` 1.9) that this
SDK does not implement. Each exists so that code written for the official
SDK fails at once, at the line that uses it, with what to use instead,
rather than with an ``AttributeError`` or, worse, a name that exists and
silently does less. See ``docs/migration-python.md``."""

from __future__ import annotations

from typing import Any, NoReturn

from .errors import NotSupportedError

__all__ = ["UNSUPPORTED", "unsupported_method"]

_GUIDE = "see docs/migration-python.md"

# name -> what to use instead
UNSUPPORTED: dict[str, str] = {
    "register_agent": (
        "agents are not registered from the SDK: create the agent in the Execlave dashboard "
        "(or name it in a local policy's appliesToAgents) and pass its agent_id to "
        "instrument_mcp_session / enforce_policy"
    ),
    "start_trace": (
        "governed MCP tool calls are recorded automatically (instrument_mcp_session); "
        "for other actions call enforce_policy before them"
    ),
    "trace": (
        "the @trace decorator is not implemented: govern the MCP session with "
        "instrument_mcp_session (every tools/call is checked and recorded), or call "
        "enforce_policy in the function"
    ),
    "ping": "there is no ping: stats() counts policy syncs and their failures",
}


def unsupported_method(name: str) -> Any:
    """A method that raises ``NotSupportedError`` naming the replacement."""
    instead = UNSUPPORTED[name]

    def method(self: object, *args: object, **kwargs: object) -> NoReturn:
        raise NotSupportedError(
            f"Execlave.{name}() of the official SDK 1.x is not implemented by execlave-sdk 2: "
            f"{instead} ({_GUIDE})"
        )

    method.__name__ = name
    method.__qualname__ = f"Execlave.{name}"
    method.__doc__ = f"Not implemented: raises ``NotSupportedError``. {instead}."
    return method
