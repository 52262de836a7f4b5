"""Which records are anchored, and how to rebuild each from the live database.

Apps register a kind with `record_kind` (a function that rebuilds one record, a JSON-able mapping
(see printfair/canonical.py), from its id, or returns None when the row is gone) or with
`record_kind_batched` (a function that rebuilds many at once, in a few queries: what
verify_ledger reads whole batches of a million-record ledger with), and a function listing the
ids of every row that should have been anchored. verify_ledger uses both to find records that
were altered, removed or never anchored. A record's id is exactly as its app wrote it on the leaf
(`str(pk)`, say): a builder finds no row by another spelling of it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

from printfair.canonical import JsonValue

RecordContent = Mapping[str, JsonValue]
#: Rebuilds one record, or None when its row is gone.
Build = Callable[[str], RecordContent | None]
#: Rebuilds the records of many ids: those whose rows exist, by id.
BuildMany = Callable[[Sequence[str]], Mapping[str, RecordContent]]


@dataclass(frozen=True)
class RecordKind:
    name: str
    build_many: BuildMany
    expected_ids: Callable[[], Iterable[str]]

    def build(self, record_id: str) -> RecordContent | None:
        return self.build_many([record_id]).get(record_id)


KINDS: dict[str, RecordKind] = {}


def record_kind(
    name: str, *, expected_ids: Callable[[], Iterable[str]]
) -> Callable[[Build], Build]:
    """Register a kind whose records are rebuilt one at a time."""

    def register(build: Build) -> Build:
        def build_many(record_ids: Sequence[str]) -> dict[str, RecordContent]:
            built = ((record_id, build(record_id)) for record_id in record_ids)
            return {record_id: record for record_id, record in built if record is not None}

        KINDS[name] = RecordKind(name=name, build_many=build_many, expected_ids=expected_ids)
        return build

    return register


def record_kind_batched(
    name: str, *, expected_ids: Callable[[], Iterable[str]]
) -> Callable[[BuildMany], BuildMany]:
    """Register a kind whose records are rebuilt many at a time."""

    def register(build_many: BuildMany) -> BuildMany:
        KINDS[name] = RecordKind(name=name, build_many=build_many, expected_ids=expected_ids)
        return build_many

    return register


def uuid_ids(record_ids: Iterable[str]) -> list[uuid.UUID]:
    """The ids that name a row with a UUID key, for a query: no other id names a row."""
    ids = []
    for record_id in record_ids:
        try:
            parsed = uuid.UUID(record_id)
        except ValueError:
            continue
        if str(parsed) == record_id:
            ids.append(parsed)
    return ids


def int_ids(record_ids: Iterable[str]) -> list[int]:
    """The ids that name a row with an integer key, for a query: no other id names a row."""
    return [int(i) for i in record_ids if i.isascii() and i.isdigit() and i == str(int(i))]


def rows_in(keys: Sequence[Any]) -> Any:
    """A value for `pk__in=` (or any `__in=`) that PostgreSQL is given as one array, not as one
    parameter a key: Django and the driver spend about 10 µs on each parameter of an IN list,
    a fifth of what rebuilding a record in a batch costs."""
    if connection.vendor == "postgresql" and keys:
        return RawSQL("SELECT unnest(%s)", [list(keys)])
    return keys
