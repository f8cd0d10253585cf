"""``hide_blocked_tools``: a tool listing without the tools the agent's
policies refuse by name. A model that is shown a tool plans around it; one
that never sees it does not waste a turn on a call that must fail. Hiding
is a courtesy to the model, not the enforcement: a hidden tool called by
name anyway is still decided, and refused, like any other call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def without_refused_tools(result: Any, refused_by_name: Callable[[list[str]], list[bool]]) -> Any:
    """A copy of a ``tools/list`` result (a ``ListToolsResult`` or a dict)
    without the tools ``refused_by_name`` refuses (one crossing per page);
    the result itself when none is. Every other field, ``nextCursor``
    included, is kept, so paging goes on as the server pages. Tools whose
    name is not a string stay: no policy names them."""
    if isinstance(result, dict):
        tools = result.get("tools")
    else:
        tools = getattr(result, "tools", None)
    if not isinstance(tools, list) or not tools:
        return result
    names: list[str] = []
    positions: list[int] = []
    for i, tool in enumerate(tools):
        name = tool.get("name") if isinstance(tool, dict) else getattr(tool, "name", None)
        if isinstance(name, str):
            names.append(name)
            positions.append(i)
    if not names:
        return result
    refused = refused_by_name(names)
    hidden = {positions[k] for k in range(len(positions)) if refused[k] is True}
    if not hidden:
        return result
    kept = [tool for i, tool in enumerate(tools) if i not in hidden]
    if isinstance(result, dict):
        copy = dict(result)
        copy["tools"] = kept
        return copy
    return result.model_copy(update={"tools": kept})
