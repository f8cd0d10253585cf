"""The JSON of a governed call's arguments, written as the ``mcp`` package
writes it: ``pydantic_core.to_json`` with the settings ``mcp``'s
``model_dump(mode="json", by_alias=True, exclude_none=True)`` uses
(``Path`` and ``datetime`` as strings, ``bytes`` as UTF-8, sets and tuples
as lists, NaN and the infinities as ``null``, a pydantic model by its
aliases without its unset ``None`` fields).

``encode`` gives the text the core checks; ``decode`` reads it back as the
copy that is sent. That copy holds only JSON's own types, which ``mcp``
writes back to the very same text: what is checked is what goes on the
wire.

Without pydantic (``enforce_policy`` with no ``mcp`` installed) the
standard ``json`` module is used, refusing what it cannot write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["encode", "decode", "SerialisationErrors"]

encode: Callable[[dict[str, Any]], str]
decode: Callable[[str], Any]

try:
    import pydantic_core
except ImportError:  # pragma: no cover - mcp brings pydantic
    _dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode

    def _encode_json(value: dict[str, Any]) -> str:
        return _dumps(value)

    encode = _encode_json
    decode = json.loads
    SerialisationErrors: tuple[type[Exception], ...] = (TypeError, ValueError, RecursionError)
else:
    _to_json = pydantic_core.to_json
    _from_json = pydantic_core.from_json

    def _encode_pydantic(value: dict[str, Any]) -> str:
        return _to_json(value, by_alias=True, exclude_none=True, inf_nan_mode="null").decode()

    def _decode_pydantic(text: str) -> Any:
        return _from_json(text)

    encode = _encode_pydantic
    decode = _decode_pydantic
    SerialisationErrors = (TypeError, ValueError, RecursionError, UnicodeError)
