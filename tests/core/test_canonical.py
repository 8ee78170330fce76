"""RFC 8785 canonical JSON: the RFC's own examples, number formatting, strict parsing."""

import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plexnet.core import canonical
from plexnet.core.errors import CanonicalJSONError

# RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialization.
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS)
def test_number_serialization_matches_rfc8785_appendix_b(bits, text):
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonical.format_number(value) == text
    assert canonical.dumps([value]) == f"[{text}]".encode()


def test_rfc8785_section_3_2_2_example():
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical.dumps(value) == expected.encode()


def test_rfc8785_section_3_2_3_sorts_by_utf16_code_units():
    value = {
        "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet",
        "1": "One", "\U0001f600": "Emoji", "\u0080": "Control", "\u00f6": "o umlaut",
    }
    keys = list(json.loads(canonical.dumps(value)))
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 2**53, -(2**53),
                                 b"bytes", {1: "x"}, {"s": "\ud800"}, object()])
def test_dumps_rejects_what_json_cannot_hold_exactly(bad):
    with pytest.raises(CanonicalJSONError):
        canonical.dumps(bad)


def test_integral_floats_drop_their_fraction():
    assert canonical.dumps({"a": 2.0, "b": -0.0, "c": 1e21}) == b'{"a":2,"b":0,"c":1e+21}'


@pytest.mark.parametrize("text", [
    b'{"a":1,"a":2}',                    # duplicate key
    b'{"a":1,"\\u0061":2}',              # duplicate after unescaping
    b"[NaN]", b"[Infinity]", b"[-Infinity]",
    b"[9007199254740993]",              # beyond 2^53 - 1 and not a double
    b"[1e400]",                          # overflows a double
    b'["\\ud800"]',                      # lone surrogate
    b"\xff\xfe",                         # not UTF-8
    b"\xef\xbb\xbf{}",                   # byte order mark
    b"[1,]", b"",
])
def test_loads_rejects(text):
    with pytest.raises(CanonicalJSONError):
        canonical.loads(text)


@pytest.mark.parametrize("text", [b'{"b":1,"a":2}', b'{"a": 1}', b"[1.0]", b'"\\u0041"', b"[1E3]"])
def test_loads_canonical_rejects_non_canonical_forms(text):
    canonical.loads(text)  # valid JSON ...
    with pytest.raises(CanonicalJSONError, match="canonical"):
        canonical.loads_canonical(text)  # ... but not canonical


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(CanonicalJSONError):
        canonical.loads(b"[" * 100_000 + b"]" * 100_000)
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(CanonicalJSONError):
        canonical.dumps(deep)


json_values = st.recursive(
    st.none() | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children,
                                                                      max_size=5),
    max_leaves=30,
)


def _exact(value):
    out: list[str] = []
    canonical._write(value, out, 0)
    return "".join(out).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_and_exact_writer_agree(value):
    try:
        fast = canonical.dumps(value)
    except CanonicalJSONError:
        return  # lone surrogates in generated text
    assert fast == _exact(value)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_is_stable(value):
    try:
        once = canonical.dumps(value)
    except CanonicalJSONError:
        return
    assert canonical.dumps(canonical.loads_canonical(once)) == once


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip_to_the_same_double(x):
    assert float(canonical.format_number(x)) == x or x == 0
