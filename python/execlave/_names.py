"""The core's messages in Python's words: the core names options as the
Node SDK spells them (``apiKey``, ``firstSyncTimeoutMs``); a Python user
wrote ``api_key``, ``first_sync_timeout_ms``."""

from __future__ import annotations

import re

__all__ = ["python_names"]

# Every option and argument name the core's messages may mention, in the
# core's (camelCase) spelling. Policy fields (``policyType``,
# ``appliesToAgents``...) are not here: a policy file spells them so.
_CAMEL_NAMES = (
    "apiKey baseUrl auditLog enforcementOnOutage onEnforcementBypassed policyRefreshMs "
    "pollIntervalMs policyCachePath firstSyncTimeoutMs requestTimeoutMs "
    "circuitBreakerCooldownMs signRequests bufferSize batchSize flushIntervalMs "
    "shutdownTimeoutMs maxPendingCalls agentId sessionId userId hideBlockedTools "
    "onBlock toolPins onToolChange enforcePolicy reportBypasses scanToolOutputs"
).split()

_SNAKE = {name: re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name) for name in _CAMEL_NAMES}
_PATTERN = re.compile(r"\b(" + "|".join(_CAMEL_NAMES) + r")\b")


def python_names(message: str) -> str:
    """``message`` with each option name in its Python spelling."""
    return _PATTERN.sub(lambda m: _SNAKE[m.group(1)], message)
