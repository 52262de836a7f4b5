"""Querysets compiled to SQL once and run with new values (issue 18).

Django compiles a queryset every time it runs one: resolving the filters and the joins, the
annotations and the select list, then writing the SQL. On the hot writes that was most of their
reads' time, not the statements: prepared, a quality record's two reads (the order locked, its
parts' tickets and numbers) went from 2.6 to 0.7 ms in process, a bid's two (the jobs locked,
the shop's versions) from 1.6 to 0.9 ms.

A `Prepared` query wraps a function from values to a queryset. On its first run with a given shape
of values, on a given connection, it builds the queryset with a marker for each value, compiles
it, and keeps the SQL, where each marker went among the parameters, and the compiler (whose
conversions of the rows are the ORM's own: booleans and decimals on SQLite, time zones). Later
runs of that shape only bind the values and execute. The SQL is that connection's dialect: its
locking clause (none on SQLite), its quoting; a locking query outside a transaction is refused,
as the ORM refuses it.

`bind` gives a query with its values without running it, for `together`, which runs several in
one round trip to PostgreSQL (a write's reads: the rows it locks, then what it checks against
them, the transaction's BEGIN with them).

Values are ints, strings, or collections of them (an `__in` lookup: each length is a shape of
its own). A query whose value the ORM writes into the SQL text, or transforms, is refused when
it is compiled, not run wrongly. Rows come back as the queryset's iterable would give them:
model instances (without `select_related`), tuples (`values_list`) or single values (`flat`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

from config.rows import prepared_cursor

R = TypeVar("R")
Scalar = int | str
Value = Scalar | Collection[int] | Collection[str]
# A parameter of the SQL: a caller's value (its name, and its index in a collection or None),
# or a constant of the query's own.
Slot = tuple[str, int | None] | tuple[None, Any]

# Shapes kept per connection and query: a batch's `__in` lists come in many lengths.
_SHAPES_KEPT = 64
# Integer markers count down from here: within the range of every integer field but the small
# ones (the ORM leaves a lookup outside a field's range out of the SQL: refused, see above),
# and far from the constants a query holds.
_INT_MARKER = 2**31 - 1


@dataclass(frozen=True)
class _Compiled:
    alias: str
    sql: str
    slots: tuple[Slot, ...]
    compiler: SQLCompiler
    kind: type
    # A model query's: the model, where its fields are in a row, and their attribute names.
    fields: tuple[type[Model], int, int, list[str]] | None
    locks: bool  # select_for_update: only in a transaction, as the ORM checks


def _items(name: str, value: Value) -> tuple[Scalar, ...] | None:
    """A collection's items; None for a single value. Refuses any other type: the SQL was made
    for ints or strings, and binding another would not be what the ORM does with it."""
    items: tuple[object, ...] | None = None if isinstance(value, int | str) else tuple(value)
    for item in (value,) if items is None else items:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise TypeError(f"a prepared query takes ints and strings, not {item!r} ({name})")
    return cast(tuple[Scalar, ...] | None, items)


def _kind(value: Value, items: tuple[Scalar, ...] | None) -> str:
    """What a value is made of, as part of its shape: an int and a string compile apart."""
    first = value if items is None else (items[0] if items else "")
    return "int" if isinstance(first, int) else "str"


def _marker(name: str, index: int, sample: Scalar, serial: int) -> Scalar:
    if isinstance(sample, int):
        return _INT_MARKER - serial
    return f"\x1fprepared:{name}:{index}"


class Prepared(Generic[R]):
    """A query whose SQL is made once per connection and shape of its values (see above)."""

    def __init__(self, build: Callable[..., QuerySet[Any, R]]) -> None:
        self._build = build
        self._local = threading.local()

    def __call__(self, **values: Value) -> list[R]:
        return together(self.bind(**values))[0]

    def bind(self, **values: Value) -> Bound[R]:
        """The query with these values, to run with others (`together`)."""
        items = {name: _items(name, value) for name, value in values.items()}
        shape = tuple(
            (name, None if found is None else len(found), _kind(values[name], found))
            for name, found in sorted(items.items())
        )
        if any(length == 0 for _, length, _ in shape):
            # An empty `__in`: nothing matches, and the ORM would run no SQL either.
            return Bound(None, [])
        compiled = self._compiled(shape, values, items)
        params: list[Any] = []
        for name, detail in compiled.slots:
            if name is None:
                params.append(detail)  # a constant of the query's own
            else:
                found = items[name]
                params.append(values[name] if found is None else found[cast(int, detail)])
        return Bound(compiled, params)

    def _compiled(
        self,
        shape: tuple[tuple[str, int | None, str], ...],
        values: dict[str, Value],
        items: dict[str, tuple[Scalar, ...] | None],
    ) -> _Compiled:
        kept: dict[tuple[tuple[str, int | None, str], ...], _Compiled]
        kept = self._local.__dict__.setdefault("kept", {})
        found = kept.get(shape)
        if found is not None:
            return found
        markers: dict[str, Scalar | list[Scalar]] = {}
        where: dict[Scalar, tuple[str, int | None]] = {}
        for name, length, _ in shape:
            found_items = items[name]
            samples = list(found_items) if found_items is not None else [cast(Scalar, values[name])]
            made = [
                _marker(name, index, sample, len(where) + index)
                for index, sample in enumerate(samples)
            ]
            where.update(
                (marker, (name, None if length is None else index))
                for index, marker in enumerate(made)
            )
            markers[name] = made[0] if length is None else made
        queryset = self._build(**markers)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots: list[Slot] = [
            where.get(param, (None, param)) if isinstance(param, int | str) else (None, param)
            for param in params
        ]
        bound = {slot for slot in slots if slot[0] is not None}
        if len(bound) != len(where) or any(str(marker) in sql for marker in where):
            raise ValueError(
                "a prepared query's values must each be bound once as a parameter, unchanged"
            )
        if queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
            raise ValueError("a prepared query cannot prefetch: run the prefetch on its rows")
        kind = queryset._iterable_class
        fields = None
        if kind is ModelIterable:
            info = compiler.klass_info
            if info is None or info.get("related_klass_infos"):
                raise ValueError("a prepared model query cannot follow relations (select_related)")
            first, last = info["select_fields"][0], info["select_fields"][-1] + 1
            names = [column[0].target.attname for column in compiler.select[first:last]]
            fields = (info["model"], first, last, names)
        elif kind not in (ValuesListIterable, FlatValuesListIterable):
            raise ValueError(f"a prepared query gives models or values_list, not {kind.__name__}")
        if len(kept) >= _SHAPES_KEPT:
            kept.clear()
        locks = (
            bool(queryset.query.select_for_update)
            and compiler.connection.features.has_select_for_update
        )
        kept[shape] = found = _Compiled(
            queryset.db, sql, tuple(slots), compiler, kind, fields, locks
        )
        return found


@dataclass(frozen=True)
class Bound(Generic[R]):
    """A prepared query and the parameters of its values; no SQL (`compiled` None) when a value
    is an empty collection."""

    compiled: _Compiled | None
    params: list[Any]


R2 = TypeVar("R2")


@overload
def together(first: Bound[R], /) -> tuple[list[R]]: ...
@overload
def together(first: Bound[R], second: Bound[R2], /) -> tuple[list[R], list[R2]]: ...
@overload
def together(*queries: Bound[Any]) -> tuple[list[Any], ...]: ...
def together(*queries: Bound[Any]) -> tuple[list[Any], ...]:
    """The rows of each query, run in the order given. On PostgreSQL several go in one round
    trip (psycopg's pipeline mode), with the transaction's BEGIN if it has not been sent yet;
    elsewhere one after another. Either way each statement starts once the one before it has
    ended, with a snapshot of its own: a query sent after a locking one sees what the
    transaction it waited for committed, as it would in a round trip of its own."""
    sent = [query for query in queries if query.compiled is not None]
    if not sent:
        return tuple([] for _ in queries)
    aliases = {cast(_Compiled, query.compiled).alias for query in sent}
    if len(aliases) > 1:
        raise ValueError("queries run together must use one database")
    db = connections[aliases.pop()]
    if db.get_autocommit() and any(cast(_Compiled, query.compiled).locks for query in sent):
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    found = iter(_fetched(db, sent))
    return tuple(
        [] if query.compiled is None else _rows(query.compiled, next(found)) for query in queries
    )


def _fetched(db: BaseDatabaseWrapper, queries: list[Bound[Any]]) -> list[list[Any]]:
    statements = [(cast(_Compiled, query.compiled).sql, query.params) for query in queries]
    if db.vendor != "postgresql":
        fetched = []
        for sql, params in statements:
            with db.cursor() as cursor:
                cursor.execute(sql, params)
                fetched.append(cursor.fetchall())
        return fetched
    # Prepared on the connection: planned once, and the values sent apart from the SQL.
    cursors = [prepared_cursor(db) for _ in statements]
    try:
        if len(cursors) == 1:
            cursors[0].execute(*statements[0])
        else:
            # A statement's error comes when the pipeline is synced, as it ends: translated as
            # Django translates a cursor's (IntegrityError, OperationalError...).
            with db.wrap_database_errors, db.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def _rows(compiled: _Compiled, rows: list[Any]) -> list[Any]:
    """The rows as the queryset's iterable gives them, converted by the ORM's converters."""
    compiler = compiled.compiler
    if compiler.has_extra_select:  # columns only the ordering needed: dropped, as Django does
        rows = [row[: compiler.col_count] for row in rows]
    converted = compiler.results_iter(results=[rows], tuple_expected=True)
    if compiled.kind is ValuesListIterable:
        return list(converted)
    if compiled.kind is FlatValuesListIterable:
        return [row[0] for row in converted]
    assert compiled.fields is not None  # noqa: S101 - a model query has them
    model, first, last, names = compiled.fields
    annotations = compiler.annotation_col_map.items()
    instances = []
    for row in converted:
        instance = model.from_db(compiled.alias, names, row[first:last])
        for attribute, position in annotations:
            setattr(instance, attribute, row[position])
        instances.append(instance)
    return instances
