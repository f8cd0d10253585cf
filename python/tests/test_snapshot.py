"""The arguments' snapshot on the governed call's path: the JSON shortcut
writes and refuses exactly what the json module does, and the flat copy
takes only values that are sent as they are."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from execlave import _exact_json
from execlave._governance import NOT_FLAT, flat_copy, snapshot_arguments
from execlave.errors import ExeclaveError

REFERENCE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=True, separators=(",", ":"))


def test_the_c_shortcut_is_in_use_on_cpython() -> None:
    # Were the import-time check to fail here, the governed call would
    # silently take the slower path.
    assert _exact_json.encode is _exact_json._c_encode


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": "b"},
        {"ü": "é\u2028\n\t\"\\", "emoji": "\U0001f600"},
        {"n": [1, -2, 10**40, 0.1, 1e300, -0.0, True, False, None]},
        {"deep": [[[{"x": [{}]}]]]},
        {1: "int key", 2.5: "float key", True: "bool key", None: "none key"},
        {"t": ("a", ("b",))},
    ],
)
def test_encode_writes_what_the_json_module_writes(value: dict[Any, Any]) -> None:
    text = _exact_json.encode(value)
    assert text == REFERENCE.encode(value)
    assert _exact_json.decode(text) == json.loads(text)


def cyclic() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = {"back": [d]}
    return d


@pytest.mark.parametrize(
    "value",
    [{"x": math.nan}, {"x": -math.inf}, {"x": {1}}, {"x": b""}, {"x": object()}, {("k",): 1}, cyclic()],
)
def test_encode_refuses_what_the_json_module_refuses(value: dict[Any, Any]) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        REFERENCE.encode(value)
    with pytest.raises(expected.type):
        _exact_json.encode(value)


def test_a_failed_encode_leaves_nothing_behind() -> None:
    shared = {"v": 1}
    with pytest.raises(TypeError):
        _exact_json.encode({"a": shared, "b": {1, 2}})
    # Not mistaken for a cycle by a marker left from the failed call.
    assert _exact_json.encode({"a": shared, "b": shared}) == '{"a":{"v":1},"b":{"v":1}}'


def test_decode_refuses_text_with_anything_after_the_value() -> None:
    with pytest.raises(ValueError):
        _exact_json.decode('{"a":1} {}')


def test_encode_flat_writes_what_encode_writes() -> None:
    flat = flat_copy({"s": 'a"\\\n\u0001', "i": -(2**63), "f": 0.1, "t": True, "u": False, "n": None})
    assert flat is not None and flat is not NOT_FLAT
    assert _exact_json.encode_flat(flat) == REFERENCE.encode(flat)
    assert _exact_json.encode_flat({}) == "{}"


def test_a_flat_copy_is_a_new_dict_of_the_same_values() -> None:
    arguments = {"s": "text", "i": -(2**63), "f": 2.5, "t": True, "n": None}
    copy = flat_copy(arguments)
    assert copy == arguments and copy is not arguments
    arguments["s"] = "changed"
    assert copy is not None and copy["s"] == "text"
    assert flat_copy(None) is None
    assert flat_copy({}) == {}


class Text(str):
    pass


class Number(int):
    pass


class Arguments(dict):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"s": Text("/srv/x")}, id="str-subclass"),
        pytest.param({"i": Number(1)}, id="int-subclass"),
        pytest.param({"s": "é"}, id="non-ascii-value"),
        pytest.param({"é": "x"}, id="non-ascii-key"),
        pytest.param({"s": "\ud800"}, id="lone-surrogate"),
        pytest.param({"f": math.nan}, id="nan"),
        pytest.param({"f": math.inf}, id="infinity"),
        pytest.param({"i": 2**64}, id="beyond-64-bits"),
        pytest.param({1: "x"}, id="int-key"),
        pytest.param({"l": ["a"]}, id="list"),
        pytest.param({"d": {}}, id="nested-dict"),
        pytest.param({"b": b"x"}, id="bytes"),
        pytest.param(Arguments(a="x"), id="dict-subclass"),
        pytest.param(["a"], id="list-as-arguments"),
    ],
)
def test_anything_not_plain_takes_the_json_snapshot(arguments: Any) -> None:
    assert flat_copy(arguments) is NOT_FLAT


def test_the_json_snapshot_still_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(ExeclaveError, match="not sent"):
        snapshot_arguments("t", {"x": math.nan})
    copy, text = snapshot_arguments("t", {"s": Text("/srv/x"), "k": ("a",)})
    assert copy == {"s": "/srv/x", "k": ["a"]} and type(copy["s"]) is str
    assert text == '{"s":"/srv/x","k":["a"]}'
