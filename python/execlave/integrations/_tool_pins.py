"""Pinned tool definitions (option ``tool_pins``): the host's side. The
check itself (digests, the lockfile, the pending file, which tool is
flagged, the violation) lives in the core (``core/src/tools/pins.rs``), once
for Python and Node, so one lockfile serves both; this module reads the
``mcp`` SDK's objects, tracks which listing a page belongs to, and raises
Python's errors. Review changes with ``execlave-pins diff <lockfile>`` and
accept them with ``execlave-pins accept <lockfile>`` (docs/tool-pins.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from .._log import escape, logger
from .._native import NativeToolPins, pinned_fields
from ..errors import ExeclaveError

# How a Python user runs the review command (the console script).
PINS_COMMAND = "execlave-pins"
PINNED_FIELDS = tuple(pinned_fields())

_ABSENT: Any = object()


def _as_json(value: Any) -> Any:
    """A listed tool's field as plain JSON data (pydantic models dumped as
    the server sent them: fields it did not send stay absent)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_unset=True)
    return json.loads(json.dumps(value, allow_nan=False))


def definition_text(tool: Any) -> str | None:
    """The pinned part of a listed tool (a pydantic ``Tool`` or a dict) as
    JSON text, or None when it cannot be read: the core never trusts such
    a tool."""
    try:
        if isinstance(tool, dict):
            fields = tool
        else:
            dump = getattr(tool, "model_dump", None)
            fields = dump(mode="json", by_alias=True, exclude_unset=True) if callable(dump) else vars(tool)
        definition = {}
        for field in PINNED_FIELDS:
            value = fields.get(field, _ABSENT)
            if value is not _ABSENT:
                definition[field] = _as_json(value)
        return json.dumps(definition, ensure_ascii=False, allow_nan=False)
    except Exception:
        return None


class ToolPins:
    """The pin check of one instrumented session. ``on_change(event)`` hears
    of every change seen."""

    def __init__(
        self,
        file: object,
        on_tool_change: object,
        *,
        debug: bool = False,
        on_change: Callable[[dict[str, Any]], None] | None = None,
        on_listed: Callable[[list[str | None]], None] | None = None,
    ) -> None:
        if not isinstance(file, (str, os.PathLike)) or not os.fspath(file):
            raise ExeclaveError("instrument_mcp_session: tool_pins must be the path of a JSON lockfile")
        if on_tool_change not in ("warn", "block") or not isinstance(on_tool_change, str):
            raise ExeclaveError(
                f"instrument_mcp_session: on_tool_change must be 'warn' or 'block', got {on_tool_change!r}"
            )
        self._debug = debug
        self._on_change = on_change
        # Told each whole listing's definitions (the service's tool-integrity check).
        self._on_listed = on_listed
        self._listed: dict[int, list[str | None]] = {}
        self._listing: ContextVar[int | None] = ContextVar("execlave_pins_listing", default=None)
        # Reads the lockfile now: a corrupt one is a configuration error, told at once.
        self._native = NativeToolPins(str(os.fspath(file)), on_tool_change, PINS_COMMAND)

    async def in_listing(self, list_: Callable[[], Awaitable[Any]]) -> Any:
        """Runs ``list_`` as one listing call: the pages it reads are one
        listing, and the trust-on-first-use window closes when the first
        one ends."""
        if self._listing.get() is not None:
            return await list_()
        listing = self._native.begin_listing()
        token = self._listing.set(listing)
        try:
            return await list_()
        finally:
            self._listing.reset(token)
            self._native.end_listing(listing)
            self._tell_listed(listing)

    def observe(self, result: Any) -> None:
        """Takes in one page of a ``tools/list`` answer, of the listing call
        under way (or a listing of its own)."""
        tools = result.get("tools") if isinstance(result, dict) else getattr(result, "tools", None)
        if not isinstance(tools, list):
            return
        current = self._listing.get()
        own = current is None
        listing = self._native.begin_listing() if current is None else current
        try:
            names: list[str] = []
            definitions: list[str | None] = []
            for tool in tools:
                name = tool.get("name") if isinstance(tool, dict) else getattr(tool, "name", None)
                if isinstance(name, str):
                    names.append(name)
                    definitions.append(definition_text(tool))
            for change in json.loads(self._native.observe_page(listing, names, definitions)):
                self._report(change)
            if self._on_listed is not None:
                self._listed.setdefault(listing, []).extend(definitions)
        finally:
            if own:
                self._native.end_listing(listing)
                self._tell_listed(listing)

    def _tell_listed(self, listing: int) -> None:
        definitions = self._listed.pop(listing, None)
        if definitions is not None and self._on_listed is not None:
            self._on_listed(definitions)

    def _report(self, change: dict[str, Any]) -> None:
        message = change.pop("message")
        # The core escaped every server-supplied string in the message.
        logger.debug("%s", message)
        if self._on_change is not None:
            try:
                self._on_change(change)
            except Exception:
                pass  # recording must not change what the list returns

    async def violation(self, tool: str, list_all: Callable[[], Awaitable[None]]) -> dict[str, Any] | None:
        """Why a call to ``tool`` may not go on (a violation), or None. Before
        any list was seen the tools are listed first (``list_all``), so a
        call by a name the app knows never skips the check."""
        if self._native.needs_listing():
            try:
                await self.in_listing(list_all)
            except Exception as cause:
                unverified = self._native.unverified(str(cause) or type(cause).__name__)
                if unverified is not None:  # None: on_tool_change="warn"
                    violation: dict[str, Any] = json.loads(unverified)
                    return violation
                logger.debug("could not list tools to check their pins: %s", escape(repr(cause)))
                return None
        text = self._native.violation(tool)
        return None if text is None else json.loads(text)

    def flush_pending(self) -> None:
        """Waits until ``<lockfile>.pending`` holds every change reported (it
        is written off the event loop)."""
        self._native.flush_pending()
