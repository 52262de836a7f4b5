"""JSON from anyone, parsed with its nesting bounded (DESIGN.md section 6, hostile input).

Python's JSON parser recurses once per level of nesting. It stops at the interpreter's recursion
limit, but py_ecc (which the Ethereum libraries import) raises that limit to 100,000 at import,
and a body nested 100,000 arrays deep then overflows the C stack: the process dies with a
segmentation fault instead of raising. No message PrintFair sends or receives is nested more
than a few levels, so everything parsed from outside the process goes through `loads`, which
refuses deep nesting before the parser recurses into it; whatever the recursion limit is.
(`printfair/eth_imports.py` also puts the limit back, in every process that imports printfair.)
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, Final

__all__ = ["MAX_DEPTH", "JsonNotText", "JsonTooDeep", "check_depth", "loads"]

#: How deep any JSON PrintFair parses may nest (objects and arrays, counted together).
MAX_DEPTH: Final = 64

# String literals (brackets inside them do not nest), and everything but brackets.
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_NESTING: Final = {"[": 1, "{": 1, "]": -1, "}": -1}
# An escaped UTF-16 surrogate: paired ones decode to one character, a lone one stays a surrogate.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class JsonTooDeep(ValueError):
    """The document nests deeper than allowed. A ValueError, as json.JSONDecodeError is, so
    callers that refuse malformed JSON refuse this too."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested more than {max_depth} levels deep")
        self.max_depth = max_depth


class JsonNotText(ValueError):
    """A string in the document is not Unicode text: it holds a lone UTF-16 surrogate (such as
    "\\ud800"), which no UTF-8 text, database column or answer can hold."""

    def __init__(self) -> None:
        super().__init__("a JSON string holds a lone surrogate escape (not Unicode text)")


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonNotText() from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def check_depth(document: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonTooDeep if `document` opens more than `max_depth` arrays or objects at once.

    All in C, with no Python step per character: brackets are counted first (ordinary documents
    hold few and are not scanned further); otherwise strings and everything but brackets are
    taken out, and the deepest nesting is the largest running sum of +1 per opening and -1 per
    closing bracket. Brackets left open count too: the parser recurses into them before it finds
    that they never close. (Mismatched pairs such as "[}" stop the parser where they occur, so
    the sum is an upper bound of how deep it goes.)"""
    if document.count("[") + document.count("{") <= max_depth:
        return
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", document))
    if brackets and max(accumulate(map(_NESTING.__getitem__, brackets))) > max_depth:
        raise JsonTooDeep(max_depth)


def loads(document: str | bytes, *, max_depth: int = MAX_DEPTH, **options: Any) -> Any:
    """json.loads, refusing documents nested deeper than `max_depth` (JsonTooDeep, a
    ValueError) before parsing them, and strings that are not Unicode text (JsonNotText, a
    ValueError). Bytes are decoded as json.loads decodes them (UTF-8, -16 or -32); `options` go
    to json.loads."""
    if isinstance(document, bytes | bytearray):
        document = document.decode(json.detect_encoding(document))  # strict: text only
    check_depth(document, max_depth)
    value = json.loads(document, **options)
    if _SURROGATE_ESCAPE.search(document):  # rare: only then is every string looked at
        _check_text(value)
    return value
