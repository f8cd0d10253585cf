"""Pinned tool definitions (option ``tool_pins``): a lockfile holds a digest
of each tool's definition as it was approved, so that a server that changes
a tool's description or schema after approval (a "rug pull") is noticed at
the next ``tools/list``. The model reads descriptions as instructions; a
changed one is a changed tool, whatever its name.

The lockfile is the Node SDK's (``lib/tool-pins.js``), byte for byte the
same digests, so one file serves both hosts and ``npx execlave-pins accept
<lockfile>`` updates it after review:
``{"version": 1, "tools": {name: {"digest", "definition"}}}``; changes seen
but not accepted go to ``<lockfile>.pending``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import sys
from decimal import Decimal
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from ..errors import ExeclaveError

LOCK_VERSION = 1
PIN_POLICY_ID = "execlave_tool_pins"
PIN_POLICY_NAME = "Pinned tool definitions"
RULE = "definition_changed"
# Changes `<lockfile>.pending` keeps, newest last.
MAX_PENDING_CHANGES = 1000
# The parts of a tool definition a model or a client acts on.
PINNED_FIELDS = ("name", "description", "inputSchema", "outputSchema", "annotations")
# Integers JS holds exactly; larger ones are doubles there.
_JS_SAFE_INTEGER = 2**53 - 1


def _js_number(value: float) -> str:
    """A number as JavaScript's ``JSON.stringify`` writes it (the shortest
    round-trip digits, JS's rules for where the exponent starts)."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-trip digits, as JS does: value = D × 10^e.
    parsed = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, parsed.digits)).lstrip("0")
    exponent = int(parsed.exponent)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    # n: where the decimal point sits after the first digit group (ECMA-262 Number::toString).
    n = len(digits) + exponent
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_key(key: str) -> bytes:
    # JS sorts keys by UTF-16 code units, Python by code points.
    return key.encode("utf-16-be", "surrogatepass")


def canonical_json(value: Any) -> str:
    """JSON text with object keys sorted at every level, exactly as the Node
    SDK's ``canonicalJson`` writes it: one text per value, whatever the key
    order the server used or the host that reads it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > _JS_SAFE_INTEGER:
            return _js_number(float(value))
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted((str(k) for k in value), key=_js_key)
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(value[k])}" for k in keys) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def _as_json(value: Any) -> Any:
    """A listed tool's field as plain JSON data (pydantic models dumped as
    the server sent them: fields it did not send stay absent)."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", by_alias=True, exclude_unset=True)
    return json.loads(json.dumps(value, allow_nan=False))


_ABSENT: Any = object()


def pinned_definition(tool: Any) -> dict[str, Any]:
    """The pinned part of a listed tool (a pydantic ``Tool`` or a dict). A
    field that cannot be copied counts as changed, never as absent."""
    if isinstance(tool, dict):
        fields = tool
    else:
        dump = getattr(tool, "model_dump", None)
        fields = dump(mode="json", by_alias=True, exclude_unset=True) if callable(dump) else vars(tool)
    definition: dict[str, Any] = {}
    for field in PINNED_FIELDS:
        value = fields.get(field, _ABSENT)
        if value is _ABSENT:
            continue
        try:
            definition[field] = _as_json(value)
        except Exception:
            definition[field] = "[not serialisable]"
    return definition


def digest_of(definition: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(definition).encode("utf-8", "surrogatepass")).hexdigest()


def write_atomic(file: str, text: str) -> None:
    """Writes ``text`` to ``file`` all at once: a reader sees the old file or
    the new one, never half of one."""
    tmp = f"{file}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    with open(tmp, "x", encoding="utf-8") as out:
        out.write(text)
    try:
        os.replace(tmp, file)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def pending_path(lockfile: str) -> str:
    return f"{lockfile}.pending"


def read_lockfile(file: str) -> dict[str, dict[str, Any]] | None:
    """A lockfile's pins (name → {digest, definition}), or None when there is none."""
    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ExeclaveError(f"tool_pins: cannot read {file}: {err}") from err
    try:
        data = json.loads(text)
    except ValueError as cause:
        raise ExeclaveError(f"tool_pins: {file} is not JSON ({cause}); fix or delete it") from cause
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION or not isinstance(data.get("tools"), dict):
        raise ExeclaveError(f"tool_pins: {file} is not a version {LOCK_VERSION} tool lockfile")
    pins: dict[str, dict[str, Any]] = {}
    for name, pin in data["tools"].items():
        if isinstance(pin, dict) and isinstance(pin.get("digest"), str):
            pins[name] = {"digest": pin["digest"], "definition": pin.get("definition")}
    return pins


def lockfile_text(pins: dict[str, dict[str, Any]]) -> str:
    """The lockfile as the Node SDK writes it (sorted names, two-space indent)."""
    tools = {name: pins[name] for name in sorted(pins, key=_js_key)}
    return json.dumps({"version": LOCK_VERSION, "tools": tools}, indent=2, ensure_ascii=False) + "\n"


def definition_diff(name: str, before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Lines that say how ``after`` differs from ``before``, field by field."""
    if before is None:
        return [f'+ new tool "{name}": {canonical_json(after)}']
    lines = [f'~ tool "{name}" changed:']
    for field in PINNED_FIELDS:
        a = canonical_json(before.get(field))
        b = canonical_json(after.get(field))
        if a != b:
            lines += [f"    {field}: - {a}", f"    {' ' * len(field)}  + {b}"]
    return lines


def pin_violation(tool: str | None, kind: str, file: str, cause: BaseException | None = None) -> dict[str, Any]:
    """A violation shaped like the policies' own, naming the pin check as its policy."""
    if kind == "new":
        why = f'tool "{tool}" is not in the pinned tool definitions'
    elif kind == "changed":
        why = f'the definition of tool "{tool}" changed since it was pinned'
    else:
        why = f"the tool definitions could not be listed to check them against their pins ({cause})"
    violation: dict[str, Any] = {
        "policyId": PIN_POLICY_ID,
        "policyName": PIN_POLICY_NAME,
        "policyType": "tool_pins",
        "enforcementMode": "block",
        "severity": "high",
        "message": f"{why}; review and run `npx execlave-pins accept {file}`",
        "rule": RULE,
    }
    if tool is not None:
        violation["tool"] = tool
    return violation


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
    ) -> None:
        if not isinstance(file, (str, os.PathLike)) or not os.fspath(file):
            raise ExeclaveError("instrument_mcp_session: tool_pins must be the path of a JSON lockfile")
        if on_tool_change not in ("warn", "block") or not isinstance(on_tool_change, str):
            raise ExeclaveError(
                f"instrument_mcp_session: on_tool_change must be 'warn' or 'block', got {on_tool_change!r}"
            )
        self._file: str = str(os.fspath(file))
        self._block = on_tool_change == "block"
        self._debug = debug
        self._on_change = on_change
        self._pins: dict[str, dict[str, Any]] | None = None
        self._lock_mtime: int | None = -1
        self._first_use = False  # no lockfile: the first complete listing is trusted
        self._seen: dict[str, dict[str, Any]] = {}
        self._flagged: dict[str, str] = {}  # name → "changed" | "new"
        self._listed = False
        # Read now: a corrupt lockfile is a configuration error, told at once.
        self._reload()

    def _reload(self) -> bool:
        """Re-reads the lockfile when it changed on disk (an ``accept`` while
        the app runs); True when new pins were read."""
        try:
            mtime: int | None = os.stat(self._file).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        except OSError as err:
            raise ExeclaveError(f"tool_pins: cannot read {self._file}: {err}") from err
        if mtime == self._lock_mtime:
            return False
        self._lock_mtime = mtime
        pins = None if mtime is None else read_lockfile(self._file)
        if pins is None:
            if self._pins is None:
                self._first_use = True
                self._pins = {}
            return False
        self._pins = pins
        self._first_use = False
        for name, seen in self._seen.items():
            self._judge(name, seen)
        return True

    def _judge(self, name: str, seen: dict[str, Any]) -> None:
        assert self._pins is not None
        pin = self._pins.get(name)
        if pin is None:
            self._flagged[name] = "new"
        elif pin["digest"] != seen["digest"]:
            self._flagged[name] = "changed"
        else:
            self._flagged.pop(name, None)

    def observe(self, result: Any) -> None:
        """Takes in one page of a ``tools/list`` answer. A change is reported
        (debug log, ``on_change``, the pending file) and, with ``"block"``,
        flags the tool until the lockfile is updated."""
        if isinstance(result, dict):
            tools, cursor = result.get("tools"), result.get("nextCursor")
        else:
            # mcp 2.x names the field next_cursor, 1.x nextCursor.
            tools = getattr(result, "tools", None)
            cursor = getattr(result, "next_cursor", None) or getattr(result, "nextCursor", None)
        if not isinstance(tools, list):
            return
        self._reload()
        assert self._pins is not None
        this_page: dict[str, dict[str, Any]] = {}
        changes: list[tuple[str, str, dict[str, Any]]] = []
        trusted = False
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else getattr(tool, "name", None)
            if not isinstance(name, str):
                continue
            definition = pinned_definition(tool)
            seen = {"digest": digest_of(definition), "definition": definition}
            twice = this_page.get(name)
            this_page[name] = seen
            self._seen[name] = seen
            if self._first_use and twice is None and name not in self._pins:
                self._pins[name] = seen
                trusted = True
                continue
            before = self._flagged.get(name)
            self._judge(name, seen)
            # One name listed twice with two definitions: the model may have
            # read either; neither is the pinned one for sure.
            if twice is not None and twice["digest"] != seen["digest"]:
                self._flagged[name] = "changed"
            kind = self._flagged.get(name)
            if kind is not None and kind != before:
                changes.append((name, kind, seen))
        if trusted:
            try:
                write_atomic(self._file, lockfile_text(self._pins))
                self._lock_mtime = os.stat(self._file).st_mtime_ns
            except OSError as cause:
                # Nothing is pinned until it is on disk: the next list tries again.
                for name in this_page:
                    if self._pins.get(name) is self._seen.get(name):
                        del self._pins[name]
                raise ExeclaveError(f"tool_pins: cannot write the lockfile {self._file}: {cause}") from cause
        if not cursor:
            self._first_use = False
        self._listed = True
        if changes:
            self._report(changes)

    def _report(self, changes: list[tuple[str, str, dict[str, Any]]]) -> None:
        assert self._pins is not None
        pending = self._read_pending()
        at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        for tool, kind, seen in changes:
            pin = self._pins.get(tool)
            diff = definition_diff(tool, pin["definition"] if pin else None, seen["definition"])
            pending["tools"][tool] = seen
            pending["changes"].append(
                {"at": at, "tool": tool, "kind": kind, "pinned": pin["digest"] if pin else None, "seen": seen["digest"]}
            )
            if self._debug:
                print(
                    f"[execlave] tool definition {'not pinned' if kind == 'new' else 'changed'} "
                    f"({'calls refused' if self._block else 'warning only'}); "
                    f"review and run `npx execlave-pins accept {self._file}`:\n" + "\n".join(diff),
                    file=sys.stderr,
                )
            if self._on_change is not None:
                try:
                    self._on_change(
                        {
                            "tool": tool,
                            "kind": kind,
                            "pinned_digest": pin["digest"] if pin else None,
                            "seen_digest": seen["digest"],
                            "diff": diff,
                            "blocked": self._block,
                        }
                    )
                except Exception:
                    pass  # recording must not change what the list returns
        # A server that flips a definition back and forth must not grow the file without bound.
        del pending["changes"][:-MAX_PENDING_CHANGES]
        try:
            write_atomic(pending_path(self._file), json.dumps(pending, indent=2, ensure_ascii=False) + "\n")
        except OSError as err:
            if self._debug:
                print(f"[execlave] could not write {pending_path(self._file)}: {err}", file=sys.stderr)

    def _read_pending(self) -> dict[str, Any]:
        try:
            with open(pending_path(self._file), encoding="utf-8") as f:
                data = json.load(f)
            if (
                isinstance(data, dict)
                and data.get("version") == LOCK_VERSION
                and isinstance(data.get("tools"), dict)
                and isinstance(data.get("changes"), list)
            ):
                return data
        except (OSError, ValueError):
            pass  # none yet, or unreadable: start a new one
        return {"version": LOCK_VERSION, "tools": {}, "changes": []}

    async def violation(self, tool: str, list_all: Callable[[], Awaitable[None]]) -> dict[str, Any] | None:
        """Why a call to ``tool`` may not go on (a violation), or None when it
        may. Before any list was seen the definitions are listed first
        (``list_all``), so a call by a name the app knows never skips the
        check."""
        if not self._listed:
            try:
                await list_all()
            except Exception as cause:
                if self._block:
                    return pin_violation(None, "unverified", self._file, cause)
                if self._debug:
                    print(f"[execlave] could not list tools to check their pins: {cause!r}", file=sys.stderr)
            self._listed = True
        if not self._block:
            return None
        assert self._pins is not None
        kind = self._flagged.get(tool)
        if kind is None and tool not in self._pins:
            kind = "new"  # never listed, never pinned
        if kind is None:
            return None
        if self._reload():
            return await self.violation(tool, list_all)
        return pin_violation(tool, kind, self._file)
