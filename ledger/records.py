"""Which records are anchored, and how to rebuild each from the live database.

Apps register a kind with `record_kind`: a function that rebuilds the record (a JSON-able
mapping; see printfair/canonical.py) from its id, or returns None when the row is gone, and a
function listing the ids of every row that should have been anchored. verify_ledger uses both to
find records that were altered, removed or never anchored."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from printfair.canonical import JsonValue

RecordContent = Mapping[str, JsonValue]


@dataclass(frozen=True)
class RecordKind:
    name: str
    build: Callable[[str], RecordContent | None]
    expected_ids: Callable[[], Iterable[str]]


KINDS: dict[str, RecordKind] = {}


def record_kind(
    name: str, *, expected_ids: Callable[[], Iterable[str]]
) -> Callable[[Callable[[str], RecordContent | None]], Callable[[str], RecordContent | None]]:
    def register(
        build: Callable[[str], RecordContent | None],
    ) -> Callable[[str], RecordContent | None]:
        KINDS[name] = RecordKind(name=name, build=build, expected_ids=expected_ids)
        return build

    return register
