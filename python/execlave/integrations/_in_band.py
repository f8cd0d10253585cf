"""``on_block="result"``: a call the policies refuse returns a tool result
with ``isError=True`` instead of raising, for agent loops that hand tool
errors back to the model. The server is still never contacted, and the
refusal is recorded as with ``"throw"``.

Only policy blocks (``PolicyBlockedError``) become results. The kill switch,
an enforcement outage and a rejected API key still raise: they are for the
application and its operators, not for the model, and a paused agent must
stop rather than go on trying other tools. Same shape as the Node SDK's
``lib/in-band.js``.
"""

from __future__ import annotations

import json
from typing import Any

from .. import _native

from ..errors import ExeclaveError, PolicyBlockedError


def blocks_in_band(on_block: object) -> bool:
    """Validates ``on_block``; True for ``"result"``."""
    if on_block not in ("throw", "result") or not isinstance(on_block, str):
        raise ExeclaveError(f"instrument_mcp_session: on_block must be 'throw' or 'result', got {on_block!r}")
    return on_block == "result"


def blocked_call_result(err: PolicyBlockedError) -> Any:
    """The ``CallToolResult`` for a policy block: a text saying why, for the
    model; the violations in ``structuredContent``, for code."""
    from mcp.types import CallToolResult

    # The result's shape is the core's (one for both hosts); validated from
    # the wire names: mcp 1.x's fields are camelCase, 2.x's snake_case
    # with camelCase aliases; both accept these.
    text = _native.blocked_call_result(str(err), json.dumps(err.violations), json.dumps(err.warnings))
    return CallToolResult.model_validate(json.loads(text))
