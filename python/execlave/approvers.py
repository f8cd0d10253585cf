"""Ready-made approvers for local ``require_approval`` policies.

    from execlave import Execlave
    from execlave.approvers import terminal_approver

    exe = Execlave(policies="policies/", approver=terminal_approver())
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["terminal_approver"]


def terminal_approver(tty_path: str = "/dev/tty") -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """An approver for local development: asks on the controlling terminal
    (``/dev/tty``), never on stdin, which an MCP stdio transport may own.
    Without a terminal (a service, CI) it refuses. One question at a time;
    the terminal is read in a worker thread, so the event loop keeps
    serving other calls."""
    lock: asyncio.Lock | None = None

    async def approve(request: dict[str, Any]) -> dict[str, Any]:
        nonlocal lock
        if lock is None:
            lock = asyncio.Lock()
        async with lock:
            return await asyncio.to_thread(_ask, tty_path, request)

    return approve


def _ask(tty_path: str, request: dict[str, Any]) -> dict[str, Any]:
    try:
        reader = open(tty_path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as error:
        return {"approved": False, "reason": f"no terminal to ask on ({tty_path}: {error.strerror or error})"}
    try:
        with reader, open(tty_path, "a", encoding="utf-8") as prompt:
            try:
                args = json.dumps(request.get("arguments"), ensure_ascii=False)
            except (TypeError, ValueError):
                args = "(not printable)"
            if len(args) > 2000:
                args = args[:2000] + "..."
            why = "\n".join(f"  - {v.get('message')}" for v in request.get("violations") or [])
            prompt.write(
                f"\n[execlave] {request.get('agent_id')} wants to call {request.get('tool')!r} "
                f"(approval {request.get('request_id')})\n  arguments: {args}\n{why}\n"
                "Approve? [y/N, or n <reason>] "
            )
            prompt.flush()
            line = reader.readline(16 * 1024).decode("utf-8", "replace").strip()
    except OSError as error:
        return {"approved": False, "reason": f"cannot ask on {tty_path}: {error}"}
    if line.lower() in ("y", "yes"):
        return {"approved": True}
    words = line.split(maxsplit=1)
    reason = words[1] if len(words) == 2 and words[0].lower() in ("n", "no") else ""
    return {"approved": False, "reason": reason or "denied at the terminal"}

