"""The JSON of a governed call's arguments: ``encode`` writes the text the
core checks, ``decode`` reads it back as the copy that is sent.

Both run on every governed call, so both skip the Python-level work the
``json`` module repeats per call (``JSONEncoder.iterencode`` builds its C
encoder anew each time; ``json.loads`` checks for bytes, a BOM and
surrounding whitespace, which text written here never has) and call the
same C code directly. The result is the same text and the same errors as
``JSONEncoder(...).encode`` and ``json.loads``; where the shortcut is not
available or does not behave exactly so (checked once, at import), the
``json`` module's own functions are used.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from collections.abc import Callable
from typing import Any

# JSON as the MCP SDK writes it: no NaN/Infinity (pydantic would write null,
# which is not what the caller meant), no silent conversion of unknown types,
# cycles detected. Compact, so that the text is the smallest to check.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=True, separators=(",", ":"))

_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


def _c_encode(value: dict[str, Any]) -> str:
    """``_ENCODER.encode(value)``, with the C encoder built as
    ``JSONEncoder.iterencode`` builds it (same parameters, CPython 3.10 to
    3.14). A fresh markers dict per call: cycles are detected exactly as
    the encoder does, with nothing left over from a call that failed."""
    make = _c_make_encoder(
        {}, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return "".join(make(value, 0))


def _c_encode_is_exact() -> bool:
    """Whether ``_c_encode`` writes what the encoder writes and refuses what
    it refuses (a C encoder with other parameters would not)."""
    probe = {"a": [1, -2.5, True, None, 'é\n\u2028"\ud800', {"b": {}}], "n": 10**30, "7": []}
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    try:
        if _c_encode(probe) != _ENCODER.encode(probe):
            return False
        for refused in ({"x": float("nan")}, {"x": float("inf")}, {"x": {1, 2}}, {"x": b""}, cycle):
            try:
                _c_encode(refused)
            except (TypeError, ValueError):
                continue
            return False
    except Exception:
        return False
    return True


encode: Callable[[dict[str, Any]], str] = (
    _c_encode if _c_make_encoder is not None and _c_encode_is_exact() else _ENCODER.encode
)

_flat_encoder: Any = None
if encode is _c_encode:
    # Built once: a flat dict holds no container, so there is no cycle to
    # look for (markers None) and nothing left over between calls.
    _flat_encoder = _c_make_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )


def encode_flat(value: dict[str, Any]) -> str:
    """``encode(value)`` for a dict ``flat_copy`` made (no container inside)."""
    if _flat_encoder is None:
        return encode(value)
    return "".join(_flat_encoder(value, 0))


# What ``json.loads`` runs once its checks are done.
_make_scanner: Any = json.scanner.make_scanner  # typeshed types its parameter oddly
_scan_once: Callable[[str, int], tuple[Any, int]] = _make_scanner(json.JSONDecoder())


def decode(text: str) -> Any:
    """``json.loads(text)`` for text ``encode`` wrote."""
    value, end = _scan_once(text, 0)
    if end != len(text):
        # Cannot happen for encode's text; were it to, nothing half-read
        # may be sent.
        raise ValueError(f"extra data after the JSON value at {end}")
    return value
