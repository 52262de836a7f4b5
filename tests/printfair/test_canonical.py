"""Tests for canonical record hashing (printfair.canonical): RFC 8785 JSON, then keccak-256."""

from __future__ import annotations

import json
import struct
import types
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from printfair.canonical import JsonValue, canonical_json, record_hash

# RFC 8785 appendix B: IEEE 754 doubles (as hex) and their canonical form (ECMAScript's
# Number.prototype.toString); each also checked against node's JSON.stringify.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
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
    ("43143ff3c1cb0959", "1424953923781206.2"),  # round to even
]

# A record as the app writes one, with its canonical form and hash; the hash was computed from
# these bytes by an independent keccak-256 (node's ethereum-cryptography).
SAMPLE_RECORD: dict[str, JsonValue] = {
    "shop": "Layer Works",
    "passed": True,
    "measurements": {"weight_g": "12.50", "wall_mm": 1.2},
    "kind": "quality",
    "job": 42,
}
SAMPLE_CANONICAL = (
    b'{"job":42,"kind":"quality","measurements":{"wall_mm":1.2,"weight_g":"12.50"},'
    b'"passed":true,"shop":"Layer Works"}'
)
SAMPLE_HASH = bytes.fromhex("e5e8d10cf130d8e252a882427d72997a439a14ea2fe3d506cfa2754046732eba")


def double(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    return value


def test_rfc8785_example_with_numbers_strings_and_literals() -> None:
    # RFC 8785 section 3.2.2: the input as JSON text, parsed the way any JSON reader would.
    source = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = (
        r'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        r""""string":"€$\u000f\nA'B\"\\\\\"/"}"""
    ).encode()

    assert canonical_json(json.loads(source)) == expected


def test_rfc8785_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the emoji (a surrogate pair, 0xD83D...) sorts before U+FB33,
    # although its code point U+1F600 is larger: the order is by UTF-16, not by code point.
    record: dict[str, JsonValue] = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }

    values = list(json.loads(canonical_json(record)).values())

    assert values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


@pytest.mark.parametrize(("bits", "expected"), RFC8785_NUMBERS)
def test_rfc8785_number_formatting(bits: str, expected: str) -> None:
    assert canonical_json({"n": double(bits)}) == b'{"n":' + expected.encode() + b"}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-0.0, b"0"),
        (1.0, b"1"),
        (-7, b"-7"),
        (2**53 - 1, b"9007199254740991"),
        (-(2**53 - 1), b"-9007199254740991"),
        (1e21, b"1e+21"),
        (1e20, b"100000000000000000000"),
        (1e-7, b"1e-7"),
        (1e-6, b"0.000001"),
        (0.1 + 0.2, b"0.30000000000000004"),
        (True, b"true"),
        (None, b"null"),
    ],
)
def test_scalars(value: JsonValue, expected: bytes) -> None:
    assert canonical_json({"v": value}) == b'{"v":' + expected + b"}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Non-ASCII stays UTF-8, never \u-escaped, and "/" is not escaped.
        ("Grüße, €5 / 😀", '"Grüße, €5 / 😀"'.encode()),
        # Control characters: the short escapes where JSON has one, else lowercase \u00XX.
        ("\b\t\n\f\r\x00\x1f\x7f", b'"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f"'),
        ('quote " and backslash \\', b'"quote \\" and backslash \\\\"'),
        # U+2028/U+2029 are valid in JSON strings and left alone (unlike some JS encoders).
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),
    ],
)
def test_strings(text: str, expected: bytes) -> None:
    assert canonical_json({"s": text}) == b'{"s":' + expected + b"}"


def test_no_whitespace_and_nested_containers() -> None:
    record: dict[str, JsonValue] = {"b": [1, [2, {"z": {}, "y": []}]], "a": (None,)}

    assert canonical_json(record) == b'{"a":[null],"b":[1,[2,{"y":[],"z":{}}]]}'


def test_any_mapping_and_sequence_are_accepted() -> None:
    record: Mapping[str, JsonValue] = types.MappingProxyType(
        {"b": (1, 2), "a": types.MappingProxyType({"c": "d"})}
    )

    assert canonical_json(record) == b'{"a":{"c":"d"},"b":[1,2]}'


def test_record_hash_is_keccak256_of_the_canonical_json() -> None:
    assert canonical_json(SAMPLE_RECORD) == SAMPLE_CANONICAL
    assert record_hash(SAMPLE_RECORD) == SAMPLE_HASH


def test_record_hash_of_the_empty_record() -> None:
    # keccak-256 (not SHA3-256: Ethereum's pre-standard padding) of b"{}".
    expected = "b48d38f93eaa084033fc5970bf96e559c33c4cdc07d889ab00b4d63f9590739d"

    assert record_hash({}).hex() == expected


def test_record_hash_changes_with_any_field() -> None:
    altered: dict[str, JsonValue] = {
        **SAMPLE_RECORD,
        "measurements": {"weight_g": "12.5", "wall_mm": 1.2},
    }

    assert record_hash(altered) != SAMPLE_HASH


json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    # Small containers keep the examples varied without spending the run on generating them.
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)
records = st.dictionaries(st.text(), json_values, max_size=8)


def reordered(value: Any) -> Any:
    """Return ``value`` with the keys of every mapping in it inserted in reverse order."""
    if isinstance(value, Mapping):
        return {key: reordered(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(item) for item in value]
    return value


@given(records)
def test_key_order_does_not_change_the_hash(record: dict[str, JsonValue]) -> None:
    assert record_hash(reordered(record)) == record_hash(record)


@given(records)
def test_canonical_json_reads_back_equal_and_is_a_fixed_point(
    record: dict[str, JsonValue],
) -> None:
    canonical = canonical_json(record)
    # JSON numbers are doubles (a reader must not turn 1e20, written as 21 digits, into an int
    # beyond 2**53), and -0.0 reads back as 0, which compares equal.
    parsed = json.loads(canonical, parse_int=float)

    assert parsed == record
    assert canonical_json(parsed) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("12.50"), r"record\['v'\]: Decimal .*give Decimal values as strings"),
        (datetime(2025, 1, 2, tzinfo=UTC), r"datetime .*ISO 8601"),
        (date(2025, 1, 2), r"date .*ISO 8601"),
        (time(12, 30), r"time .*ISO 8601"),
        (b"\x00\x01", r"bytes .*hex string"),
        (bytearray(b"\x00"), r"bytearray .*hex string"),
        (uuid.UUID(int=1), r"UUID is not a JSON value"),
        ({1, 2}, r"set is not a JSON value"),
        ({"inner": [1, Decimal(1)]}, r"record\['v'\]\['inner'\]\[1\]: Decimal"),
        ({1: "x"}, r"record\['v'\]: object keys must be strings, got int 1"),
    ],
)
def test_values_without_a_canonical_json_form_are_type_errors(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        canonical_json({"v": value})


def test_a_record_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="a record must be a mapping, got list"):
        canonical_json([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), r"record\['v'\]: nan has no JSON representation"),
        (float("inf"), r"inf has no JSON representation"),
        (float("-inf"), r"-inf has no JSON representation"),
        (double("7fffffffffffffff"), r"NaN or infinity"),  # RFC 8785 appendix B: NaN
        (double("7ff0000000000000"), r"NaN or infinity"),  # RFC 8785 appendix B: Infinity
        (2**53, r"beyond 2\*\*53 - 1.*decimal strings"),
        (-(2**53), r"beyond 2\*\*53 - 1"),
        (10**18, r"beyond 2\*\*53 - 1"),
    ],
)
def test_numbers_json_cannot_carry_exactly_are_value_errors(value: JsonValue, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        canonical_json({"v": value})


def test_a_lone_surrogate_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="non-UTF-8"):
        canonical_json({"v": "\ud800"})


# What ledger records hold: ASCII keys and no floats, which Python's own JSON encoder writes (the
# fast path of canonical_json); its strings take every character, control characters included.
ledger_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.text(st.characters(codec="utf-8")),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(st.characters(max_codepoint=127)), children, max_size=5)
    ),
    max_leaves=30,
)


@given(st.dictionaries(st.text(st.characters(max_codepoint=127)), ledger_values, max_size=8))
def test_the_fast_path_writes_what_rfc8785_writes(record: dict[str, JsonValue]) -> None:
    assert canonical_json(record) == rfc8785.dumps(record)


@given(records)
def test_any_record_is_written_as_rfc8785_writes_it(record: dict[str, JsonValue]) -> None:
    assert canonical_json(record) == rfc8785.dumps(record)


def test_a_ledger_record_is_written_without_rfc8785(monkeypatch: pytest.MonkeyPatch) -> None:
    """A million records are verified in minutes because they take the fast path."""
    record: dict[str, JsonValue] = {
        "kind": "part_record", "id": str(uuid.uuid4()), "job": 12, "shop": 3, "seq": 1,
        "part_serial": "P-1", "type": "quality", "occurred_at": "2026-12-06T10:00:00+00:00",
        "data": {"characteristic": "bore", "measured": "10.010", "note": "a\tb\u00e9\x7f\n"},
        "characteristic": "bore", "passed": True, "evidence": [], "tags": ("a", "b"),
    }  # fmt: skip
    expected = rfc8785.dumps(record)

    def refuse(value: object) -> bytes:
        raise AssertionError("rfc8785 used for a ledger record")

    monkeypatch.setattr(rfc8785, "dumps", refuse)
    assert canonical_json(record) == expected
    with pytest.raises(AssertionError, match="rfc8785 used"):
        canonical_json({"price": 1.5})  # a float: ECMAScript's number form is rfc8785's
