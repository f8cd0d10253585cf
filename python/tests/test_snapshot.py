"""The arguments' snapshot on the governed call's path: written as the
``mcp`` package writes a call's arguments (pydantic's encoder), read back as
the copy that is sent, and the flat copy takes only values that are sent as
they are."""

from __future__ import annotations

import datetime
import json
import math
import pathlib
import uuid
from typing import Any

import pytest
from execlave import _arguments_json
from execlave._governance import NOT_FLAT, flat_copy, snapshot_arguments
from execlave.errors import ExeclaveError
from mcp import types


def as_mcp_sends(arguments: dict[Any, Any]) -> Any:
    """The arguments as the mcp ClientSession puts them in the request it
    sends (``model_dump(by_alias=True, mode="json", exclude_none=True)``)."""
    request = types.CallToolRequest(params=types.CallToolRequestParams(name="t", arguments=arguments))
    return request.model_dump(by_alias=True, mode="json", exclude_none=True)["params"]["arguments"]


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": "b"},
        {"ü": "é\u2028\n\t\"\\", "emoji": "\U0001f600"},
        {"n": [1, -2, 10**40, 0.1, 1e300, -0.0, True, False, None]},
        {"deep": [[[{"x": [{}]}]]]},
        {"t": ("a", ("b",)), "s": frozenset({"x"})},
        {"p": pathlib.Path("/srv/notes/a"), "d": datetime.datetime(2026, 12, 7, 15, 0, 1)},
        {"day": datetime.date(2026, 12, 7), "u": uuid.UUID(int=7), "b": b"bytes"},
        {"nan": math.nan, "inf": math.inf, "-inf": -math.inf},
    ],
)
def test_the_text_is_what_mcp_sends_and_the_copy_reads_back_to_it(value: dict[Any, Any]) -> None:
    copy, text = snapshot_arguments("t", value)
    assert text is not None
    assert json.loads(text) == as_mcp_sends(value)
    # The copy holds JSON's own types only: mcp writes it back to the same text.
    assert copy == json.loads(text)
    assert _arguments_json.encode(copy) == text  # type: ignore[arg-type]
    assert as_mcp_sends(copy) == copy  # type: ignore[arg-type]


def cyclic() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = {"back": [d]}
    return d


def deep(n: int) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for _ in range(n):
        d = {"a": d}
    return d


@pytest.mark.parametrize(
    "value",
    [{"x": object()}, {"x": "\ud800"}, {"\udfff": 1}, cyclic(), deep(5000)],
    ids=["unknown-type", "lone-surrogate", "lone-surrogate-key", "cycle", "too-deep"],
)
def test_what_cannot_be_written_is_refused_before_sending(value: dict[Any, Any]) -> None:
    with pytest.raises(ExeclaveError, match="not sent") as info:
        snapshot_arguments("t", value)
    assert isinstance(info.value, ValueError)


def test_a_failed_encode_leaves_nothing_behind() -> None:
    shared = {"v": 1}
    with pytest.raises(ExeclaveError):
        snapshot_arguments("t", {"a": shared, "b": object()})
    # Not mistaken for a cycle by a marker left from the failed call.
    assert snapshot_arguments("t", {"a": shared, "b": shared})[1] == '{"a":{"v":1},"b":{"v":1}}'


def test_the_text_of_a_flat_copy_is_what_the_full_path_writes() -> None:
    flat = flat_copy({"s": 'a"\\\n\u0001', "i": -(2**63), "f": 0.1, "t": True, "u": False, "n": None})
    assert flat is not None and flat is not NOT_FLAT
    assert _arguments_json.encode(flat) == snapshot_arguments("t", flat)[1]
    assert _arguments_json.encode({}) == "{}"


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


def test_the_json_snapshot_converts_as_mcp_does() -> None:
    assert snapshot_arguments("t", {"x": math.nan}) == ({"x": None}, '{"x":null}')
    copy, text = snapshot_arguments("t", {"s": Text("/srv/x"), "k": ("a",)})
    assert copy == {"s": "/srv/x", "k": ["a"]} and type(copy["s"]) is str
    assert text == '{"s":"/srv/x","k":["a"]}'
