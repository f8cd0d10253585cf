"""Execlave's lines go where the application's logs go: the ``execlave``
logger of :mod:`logging`.

The Rust core hands its lines to :func:`native_line` (see
``python/src/log_bridge.rs``). With no logging configured at all, Python
would print only warnings, without saying whose they are; then
:class:`_Fallback` writes them to stderr as ``[execlave] …``, as before, and
steps aside as soon as the application configures a handler of its own.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("execlave")

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


_fallback = _Fallback()
if not any(isinstance(h, _Fallback) for h in logger.handlers):
    logger.addHandler(_fallback)


def enable_debug() -> None:
    """``debug=True``: the core's debug lines pass the logger, unless the
    application set the ``execlave`` logger's level itself."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)


def native_line(level: str, line: str) -> None:
    """One line of the core's (on the ``execlave-log`` thread)."""
    logger.log(_LEVELS.get(level, logging.WARNING), "%s", line)
