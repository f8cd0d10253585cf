"""The SDK's Python log lines: one logger, ``logging.getLogger("execlave")``,
and one escaping function for every value a line shows that the SDK did not
write itself (a tool name the model chose, a server's text, an exception's
message).

Escaping makes a hostile value unable to forge log lines: no newline can
start a line of its own (a fake ``[execlave] …``), no terminal escape can
move the cursor, recolour or hide text.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["logger", "escape", "enable_debug"]

logger = logging.getLogger("execlave")

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and
# bidirectional overrides a terminal or a log viewer may act on.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Beyond this many characters a value is cut (a 1 MiB tool name must not
# make a 1 MiB log line).
MAX_SHOWN = 200


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(value: object) -> str:
    """``value`` as text safe to put in a log line: every control character
    written as ``\\xNN`` / ``\\uNNNN``, lone surrogates as ``\\udNNN``,
    and at most ``MAX_SHOWN`` characters (then ``…``)."""
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > MAX_SHOWN
    if cut:
        text = text[:MAX_SHOWN]
    if not text.isascii() or _UNSAFE.search(text):
        text = _UNSAFE.sub(_escaped, text)
        # A lone surrogate cannot be written to a UTF-8 stream at all.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text + "…" if cut else text


_debug_handler: logging.Handler | None = None


def enable_debug() -> None:
    """``debug=True``: the logger's DEBUG lines are shown. Where the
    application configured no handler for them (none on this logger nor on
    the root logger), one that writes ``[execlave] message`` to stderr is
    added, once."""
    global _debug_handler
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    if _debug_handler is None and not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[execlave] %(message)s"))
        logger.addHandler(handler)
        _debug_handler = handler
