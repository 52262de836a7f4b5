"""New rows of several models written in one statement (issue 18).

A hot write stores rows in several tables at once: a quality record, its leaf to anchor and its
audit event; a bid, its outbox row and its audit event. Through the ORM each table is an insert
of its own: its SQL compiled, then a round trip. On PostgreSQL they can be one statement, each
table's rows sent as one typed array a column (`unnest`), prepared once a connection:

- `NewRows` writes several models' rows, each model's in a data-modifying WITH of that one
  statement (`ON CONFLICT DO NOTHING` for rows that ask for it, as `bulk_create`'s
  `ignore_conflicts`); elsewhere (SQLite, the embedded default) each model's is a `bulk_create`.
- `columns`, `arrays` and `values` give a model's columns, their arrays in SQL and the rows'
  values for a statement of its own (printshops.services.bid_rows).

The values are the ORM's: each field's own `pre_save` (auto_now fields set on the rows, as the
ORM sets them) and conversion for the database, so a default or a field added to a model is
written here too. Ids the database makes (auto fields) are not read back: a caller that needs
them uses `bulk_create`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, cast

import psycopg
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


def fields(model: type[Model], exclude: Sequence[str] = ()) -> list[Field[Any, Any]]:
    """The fields of `model` an insert writes: every concrete one but those the database fills
    (an auto id) and `exclude` (those the caller's statement fills itself)."""
    return [
        field
        for field in model._meta.concrete_fields
        if not getattr(field, "db_returning", False) and field.name not in exclude
    ]


def _param(model: type[Model], field: Field[Any, Any]) -> str:
    return f"{model._meta.db_table}__{field.column}"


def columns(model: type[Model], exclude: Sequence[str] = (), table: str = "") -> str:
    """The columns `fields` gives, as SQL (each prefixed with `table.` if given)."""
    prefix = f"{table}." if table else ""
    return ", ".join(f"{prefix}{field.column}" for field in fields(model, exclude))


def arrays(model: type[Model], exclude: Sequence[str] = ()) -> str:
    """The typed arrays `unnest` takes the columns of `fields` from, sent in binary (%b):
    psycopg dumps a binary array several times faster than a text one, which it quotes item by
    item."""
    return ", ".join(
        f"%({_param(model, field)})b::{field.db_type(connection)}[]"
        for field in fields(model, exclude)
    )


def values(
    db: BaseDatabaseWrapper, model: type[Model], rows: Sequence[Model], exclude: Sequence[str] = ()
) -> dict[str, list[Any]]:
    """The rows' values for `arrays`' parameters, a list a column, as the ORM converts them for
    an insert."""
    return {_param(model, field): _column(db, field, rows) for field in fields(model, exclude)}


def _column(db: BaseDatabaseWrapper, field: Field[Any, Any], rows: Sequence[Model]) -> list[Any]:
    pre_save = field.pre_save
    found = [pre_save(row, True) for row in rows]
    if found.count(found[0]) == len(found):  # most columns: the same in every row
        return [field.get_db_prep_save(found[0], db)] * len(found)
    return [field.get_db_prep_save(value, db) for value in found]


class _PreparedCursor(psycopg.Cursor[Any]):
    """A cursor whose statements PostgreSQL prepares (Django turns psycopg's automatic
    preparing off), for statements planned on every request otherwise."""

    def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
        return super().execute(query, params, **{**options, "prepare": True})


def prepared_cursor(db: BaseDatabaseWrapper) -> Any:
    """A cursor of PostgreSQL's connection `db` whose statements are prepared once on the
    connection, wrapped as Django wraps its cursors, so that query logging, `execute_wrapper`
    and the translation of database errors see it."""
    db.ensure_connection()
    wrap = db.make_debug_cursor if db.queries_logged else db.make_cursor
    return wrap(cast(Any, _PreparedCursor(db.connection)))


def execute(db: BaseDatabaseWrapper, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """`sql` prepared once on the connection (whatever the rows' number: they are arrays) and
    its rows."""
    with prepared_cursor(db) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


_STATEMENTS: dict[tuple[tuple[type[Model], bool], ...], str] = {}


def _statement(shape: tuple[tuple[type[Model], bool], ...]) -> str:
    """The statement for groups of these models (each with its ignore_conflicts), made once
    (nothing in it comes from the rows)."""
    sql = _STATEMENTS.get(shape)
    if sql is None:
        inserts = [
            f"""insert_{index} AS (
                INSERT INTO {model._meta.db_table} ({columns(model)})
                SELECT * FROM unnest({arrays(model)})
                {"ON CONFLICT DO NOTHING" if ignore else ""}
            )"""  # noqa: S608 - table and column names from the models, values bound
            for index, (model, ignore) in enumerate(shape)
        ]
        sql = _STATEMENTS[shape] = f"WITH {', '.join(inserts)} SELECT 1"
    return sql


class NewRows:
    """New rows of several models, inserted in one statement on PostgreSQL and with one
    `bulk_create` a model elsewhere.

    `add` takes one model's rows and converts them for the database there and then: their
    `pre_save` sets their auto_now fields, as `bulk_create` sets them, so that rows added later
    may be made from them (a record's leaf hashes its time). `insert` writes what was added."""

    def __init__(self) -> None:
        self._db = transaction.get_connection()
        self._shape: list[tuple[type[Model], bool]] = []
        self._params: dict[str, list[Any]] = {}
        self._added: list[Sequence[Model]] = []

    def add(self, rows: Sequence[Model], *, ignore_conflicts: bool = False) -> None:
        """Rows of one model (none: nothing to add); `ignore_conflicts` leaves out those a
        unique constraint already has, as `bulk_create(ignore_conflicts=True)` does."""
        if not rows:
            return
        model = type(rows[0])
        if self._db.vendor != "postgresql":
            model._default_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
            return
        if any(added is model for added, _ in self._shape):
            raise ValueError(f"{model.__name__}'s rows were added already: add them at once")
        self._shape.append((model, ignore_conflicts))
        self._params |= values(self._db, model, rows)
        self._added.append(rows)

    def insert(self) -> None:
        if not self._shape:
            return
        execute(self._db, _statement(tuple(self._shape)), self._params)
        for rows in self._added:
            for row in rows:
                row._state.adding = False
                row._state.db = self._db.alias
        self._shape, self._params, self._added = [], {}, []
