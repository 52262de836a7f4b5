"""Canonical hashing of ledger records: RFC 8785 JSON, then keccak-256.

Records that are anchored on chain (quality records, production events, print tickets, design
registrations) are hashed over their JSON Canonicalization Scheme serialisation (JCS, RFC 8785),
so that anyone holding a record can recompute its hash with any conforming JCS implementation:
object keys sorted by their UTF-16 code units, no insignificant whitespace, strings in UTF-8 with
only the mandatory escapes, numbers in ECMAScript's shortest round-trip form.

JSON numbers are IEEE 754 doubles, so JCS can carry exactly what a double can and nothing more.
Integers beyond 2**53 - 1 (token amounts in base units) and ``Decimal`` amounts would change
meaning on the way, and a ``datetime`` has no JSON form at all. Callers therefore give exact
decimals, large integers and timestamps as strings in one fixed format of their choosing (for
example ``str(Decimal("12.50"))`` and an ISO 8601 UTC timestamp); this module refuses anything
else rather than guess a format, because a guessed format that changes later changes every hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, time
from decimal import Decimal
from typing import TypeAlias

import rfc8785
from eth_hash.auto import keccak

__all__ = ["JsonValue", "canonical_json", "record_hash"]

JsonValue: TypeAlias = (
    bool | int | float | str | Sequence["JsonValue"] | Mapping[str, "JsonValue"] | None
)

# The integers a double holds exactly; JCS (like JavaScript) reads every number as a double.
_MAX_SAFE_INTEGER = 2**53 - 1

# Types that are tempting to put in a record, and what to do instead.
_HINTS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (Decimal, "give Decimal values as strings, e.g. str(amount)"),
    (date, "give dates and datetimes as ISO 8601 strings"),
    (time, "give times as ISO 8601 strings"),
    ((bytes, bytearray, memoryview), "give binary data as a hex string"),
)


def canonical_json(record: Mapping[str, JsonValue]) -> bytes:
    """Return the RFC 8785 canonical JSON serialisation of ``record`` as UTF-8 bytes.

    Values may be ``None``, ``bool``, ``int`` (at most 2**53 - 1 in magnitude), finite
    ``float``, ``str``, sequences (lists, tuples) and mappings with ``str`` keys, nested freely.
    ``Decimal`` values, datetimes, large integers and bytes must be given as strings by the
    caller (see the module docstring).

    Raises ``TypeError`` for a value of any other type and ``ValueError`` for a NaN or infinite
    float, an integer a double cannot hold exactly, or a string that is not valid Unicode (a
    lone surrogate).
    """
    if not isinstance(record, Mapping):
        raise TypeError(f"a record must be a mapping, got {type(record).__name__}")
    if _json_writes_it_canonically(record):
        try:
            return _CANONICAL_JSON.encode(record).encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: refused below, with where it is
    return rfc8785.dumps(_plain(record, "record"))


# What Python's (C) JSON encoder writes for the values `_json_writes_it_canonically` admits is
# RFC 8785's serialisation, byte for byte: keys sorted (ASCII keys sort by code point as by UTF-16
# code unit), no whitespace, strings in UTF-8 escaping only `"`, `\` and control characters
# (\b \t \n \f \r, the others as lowercase \u00xx, as ECMAScript does), integers in decimal.
# Ledger records are such values; a million are verified in minutes, where rfc8785 (pure
# Python) took most of the time. tests/printfair/test_canonical.py holds the two together.
_CANONICAL_JSON = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)


def _json_writes_it_canonically(value: object) -> bool:
    """Whether `value` holds only dicts with ASCII string keys, lists, tuples, strings,
    booleans, None and integers a double holds exactly: no float, whose ECMAScript form
    Python does not write, and nothing `_plain` refuses."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER  # type: ignore[operator]
    if kind is dict:
        return all(
            type(key) is str and key.isascii() and _json_writes_it_canonically(item)
            for key, item in value.items()  # type: ignore[attr-defined]
        )
    if kind is list or kind is tuple:
        return all(_json_writes_it_canonically(item) for item in value)  # type: ignore[attr-defined]
    return False


def record_hash(record: Mapping[str, JsonValue]) -> bytes:
    """Return keccak-256 (32 bytes) of ``canonical_json(record)``: the hash that is anchored."""
    return keccak(canonical_json(record))


def _plain(value: object, path: str) -> JsonValue:
    """Check ``value`` and return it with mappings as dicts and sequences as lists.

    ``rfc8785`` accepts only ``dict``, ``list`` and ``tuple`` containers, and its errors do not
    say where in a nested record the bad value sits; ``path`` (e.g. ``record['items'][2]``) does.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise ValueError(
                f"{path}: {value} cannot be represented exactly in JSON (beyond 2**53 - 1); "
                "give large integers as decimal strings"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} has no JSON representation (NaN or infinity)")
        return value
    if isinstance(value, Mapping):
        plain: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{path}: object keys must be strings, got {type(key).__name__} {key!r}"
                )
            plain[key] = _plain(item, f"{path}[{key!r}]")
        return plain
    for kind, hint in _HINTS:
        if isinstance(value, kind):
            raise TypeError(f"{path}: {type(value).__name__} is not a JSON value; {hint}")
    if isinstance(value, Sequence):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(
        f"{path}: {type(value).__name__} is not a JSON value; use None, bool, int, float, str, "
        "lists and mappings with str keys"
    )
