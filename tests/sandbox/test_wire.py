"""The value channel: plain values travel exactly (type for type), nothing else is ever built from a
message, and oversized or malformed messages are refused with WireError."""

from __future__ import annotations

import contextlib
import decimal
import fractions
import json
import math
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aha.sandbox import wire
from aha.sandbox.wire import WireError, decode, encode

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text() | st.binary()
    | st.complex_numbers(allow_nan=False) | st.fractions()
    | st.decimals(allow_nan=False)
    | st.integers(min_value=10**4000, max_value=10**4100)
)  # fmt: skip
HASHABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda inner: st.tuples(inner, inner),
    max_leaves=3,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(HASHABLE, inner, max_size=4)
        | st.sets(HASHABLE, max_size=4)
        | st.frozensets(HASHABLE, max_size=4)
        | st.builds(bytearray, st.binary())
    ),
    max_leaves=20,
)


def same(a: object, b: object) -> bool:
    """Equal and of the same type all the way down (nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_plain_values_round_trip_exactly(value):
    tree = json.loads(json.dumps(encode(value), allow_nan=False))  # what actually travels
    assert same(decode(tree), value)


def test_subclasses_travel_as_their_plain_base():
    class Loud(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    value = decode(encode([Loud(3), True, type("S", (str,), {})("x")]))
    assert value == [3, True, "x"] and [type(v) for v in value] == [int, bool, str]
    assert value[0] != 4  # a plain int again: equal only to 3


def test_other_objects_become_handles_or_are_refused():
    objects = []

    def handle(obj):
        objects.append(obj)
        return len(objects) - 1

    marker = object()
    tree = encode({"f": len, "o": marker}, handle)
    assert tree == {"d": [["f", {"r": 0, "n": "builtin_function_or_method", "c": True}],
                          ["o", {"r": 1, "n": "object", "c": False}]]}  # fmt: skip
    assert decode(tree, lambda number, name, is_callable: objects[number]) == {"f": len, "o": marker}
    with pytest.raises(WireError, match="cannot send"):
        encode(object())
    with pytest.raises(WireError, match="unknown tag"):
        decode(tree)  # handles are refused where none are expected


@pytest.mark.parametrize(
    "tree",
    [
        {"x": 1}, {"t": 5}, {"d": [[1]]}, {"d": [[[1], 2]]}, {"s": [[1]]}, {"b": "zz"}, {"I": "0xg"},
        {"f": "1.0"}, {"c": ["a", 1]}, {"q": [1, 0]}, {"D": 5}, {"r": "1", "n": "x", "c": True},
        {"t": [1], "s": [2]}, {}, object(),
    ],
)  # fmt: skip
def test_malformed_trees_raise_wire_error(tree):
    with pytest.raises(WireError):
        decode(tree, lambda *a: None)


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30))  # fmt: skip
def test_any_json_decodes_or_raises_wire_error(tree):
    with contextlib.suppress(WireError):  # the property: nothing but WireError ever escapes
        decode(tree)


def test_depth_is_capped_both_ways():
    deep: list = []
    for _ in range(wire.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(WireError, match="deep"):
        encode(deep)
    with pytest.raises(WireError, match="deep"):
        decode(json.loads("[" * (wire.MAX_DEPTH + 5) + "]" * (wire.MAX_DEPTH + 5)))


def test_messages_travel_and_oversized_or_broken_ones_are_refused():
    read, write = os.pipe()
    try:
        wire.send(write, {"value": encode((1, "two", b"3"))})
        assert decode(wire.receive(read)["value"]) == (1, "two", b"3")
        os.write(write, struct.pack(">I", wire.MAX_MESSAGE + 1))
        with pytest.raises(WireError, match="over the limit"):
            wire.receive(read)
        os.write(write, struct.pack(">I", 3) + b"[1]")
        with pytest.raises(WireError, match="malformed"):
            wire.receive(read)
        os.write(write, struct.pack(">I", 5) + b"{nope")
        with pytest.raises(WireError, match="malformed"):
            wire.receive(read)
        with pytest.raises(WireError, match="over the limit"):
            wire.send(write, {"value": "x" * (wire.MAX_MESSAGE + 1)})
    finally:
        os.close(write)
    with pytest.raises(WireError, match="gone"):
        wire.receive(read)
    os.close(read)


def test_numbers_keep_their_exact_values():
    values = [2**70, -(10**5000), 0.1, -0.0, float("inf"), 1e-320, fractions.Fraction(1, 3), decimal.Decimal("1.10")]
    back = decode(json.loads(json.dumps(encode(values))))
    assert back[:2] == values[:2] and back[2] == 0.1 and math.copysign(1, back[3]) == -1
    assert back[4] == math.inf and back[5] == 1e-320 and back[6] == fractions.Fraction(1, 3)
    assert str(back[7]) == "1.10"
