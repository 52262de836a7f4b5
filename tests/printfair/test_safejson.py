"""JSON from anyone is parsed with its nesting bounded (printfair/safejson.py), whatever the
interpreter's recursion limit: a document nested 100,000 deep once killed the web process."""

from __future__ import annotations

import pytest

from printfair import safejson


@pytest.mark.parametrize(
    "document",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 65 + "1" + "}" * 65,
        "[" * 100_000,  # never closed: the parser recurses before it finds out
        "]" * 10 + "[" * 100,
        b"[" * 100_000 + b"]" * 100_000,
        ("[" * 100_000).encode("utf-16"),
    ],
)
def test_a_document_nested_too_deep_is_refused_before_parsing(document: str | bytes) -> None:
    with pytest.raises(safejson.JsonTooDeep):
        safejson.loads(document)


def test_documents_within_the_bound_parse_as_json_would() -> None:
    value = safejson.loads("[" * safejson.MAX_DEPTH + "]" * safejson.MAX_DEPTH)
    depth = 1
    while value:
        (value,) = value
        depth += 1
    assert depth == safejson.MAX_DEPTH
    assert safejson.loads('{"a": [1, {"b": "[[[[[[{{{{"}], "c": "\\"]"}') == {
        "a": [1, {"b": "[[[[[[{{{{"}],
        "c": '"]',
    }
    # Brackets inside strings do not nest, however many there are.
    assert safejson.loads('{"note": "' + "[" * 1000 + '"}') == {"note": "[" * 1000}
    # Many shallow brackets side by side are fine.
    wide = "[" + ",".join(["[1, {}]"] * 10_000) + "]"
    assert len(safejson.loads(wide)) == 10_000
    assert safejson.loads('{"x": 1}'.encode("utf-16")) == {"x": 1}


def test_malformed_json_is_still_a_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        safejson.loads('{"a": ')


@pytest.mark.parametrize(
    "document",
    [r'{"a": "\ud800"}', r'{"\udfff": 1}', r'[[["x\uDBFFy"]]]', b'"\xed\xa0\x80"'],
)
def test_a_lone_surrogate_is_refused_as_not_text(document: str | bytes) -> None:
    """A string no UTF-8 answer or database column can hold once turned a refusal that quoted
    it into a server error."""
    with pytest.raises(ValueError, match=r"surrogate|codec"):
        safejson.loads(document)


def test_paired_surrogates_are_one_character() -> None:
    assert safejson.loads(r'{"part": "P-\ud83d\ude00"}') == {"part": "P-😀"}
