"""The scan of an allowed call's result (issue 22): the core sends it to the
control plane's ``tool_output_scan`` policies (``Governor::check_tool_output``);
this file hands it the result as JSON and turns the verdict into the
exception that keeps the result from the caller."""

from __future__ import annotations

import json
from typing import Any

from .._governance import halt_error
from ..client import Execlave, _native_future
from ..errors import EnforcementUnavailableError, ExeclaveError


def result_json(result: Any) -> str | None:
    """The result as JSON text (a model through its own serializer), or
    None when it cannot be serialised."""
    try:
        serializer = getattr(type(result), "__pydantic_serializer__", None)
        if serializer is not None:
            return str(serializer.to_json(result, by_alias=True, exclude_none=True).decode())
        if hasattr(result, "model_dump_json"):
            return str(result.model_dump_json(by_alias=True, exclude_none=True))
        return json.dumps(result)
    except Exception:
        return None


async def scan_output(exe: Execlave, handle: int, ticket: int, tool: str, result: Any) -> ExeclaveError | None:
    """Why ``result`` may not be handed over, or None when it may; the
    call's record (``ticket``, 0: none) says what the scan made of it."""
    text = result_json(result)
    if text is None:
        # Unscannable is not handed over: refused, never let through.
        return EnforcementUnavailableError(f"the result of tool {tool!r} cannot be read to scan it")
    answer = await _native_future(lambda done: exe._native.check_tool_output(handle, ticket, tool, text, done))
    outcome = json.loads(str(answer))
    if outcome.get("kind") == "allow":
        if outcome.get("bypass"):
            exe._report_bypass(str(outcome["bypass"]), tool)
        return None
    return halt_error(outcome) or ExeclaveError(f"unexpected scan outcome {outcome.get('kind')!r}")
