"""The SDK's log lines, its own and the Rust core's: one logger,
``logging.getLogger("execlave")``, and one escaping function for every value a line shows that the SDK did not
write itself (a tool name the model chose, a server's text, an exception's
message).

Escaping makes a hostile value unable to forge log lines: no newline can
start a line of its own (a fake ``[execlave] …``), no terminal escape can
move the cursor, recolour or hide text.

The Rust core hands its lines to :func:`native_line` (see
``python/src/log_bridge.rs``). With no logging configured at all, Python
would print only warnings, without saying whose they are; then
:class:`_Fallback` writes them to stderr as ``[execlave] …``, as before, and
steps aside as soon as the application configures a handler of its own.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["logger", "escape", "enable_debug", "native_line"]

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


_LEVELS = {"warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}


class _Fallback(logging.Handler):
    """stderr, only while no other handler would take the record."""

    def emit(self, record: logging.LogRecord) -> None:
        if _others_would_handle(record):
            return
        try:
            sys.stderr.write(f"[execlave] {record.getMessage()}\n")
        except Exception:  # stderr closed: nowhere left to say it
            pass


def _others_would_handle(record: logging.LogRecord) -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if not isinstance(handler, _Fallback) and record.levelno >= handler.level:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


if not any(isinstance(h, _Fallback) for h in logger.handlers):
    logger.addHandler(_Fallback())


def enable_debug() -> None:
    """``debug=True``: DEBUG lines pass the logger (and reach stderr through
    the fallback while the application configured no handler), unless the
    application set the ``execlave`` logger's level itself."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)


def native_line(level: str, line: str) -> None:
    """One line of the core's (on the ``execlave-log`` thread)."""
    logger.log(_LEVELS.get(level, logging.WARNING), "%s", line)
