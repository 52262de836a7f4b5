"""Every index is paid for by every insert into its table and by every update that changes one of
its columns: the schema keeps none that another already gives (issue 18: a bid's three rows went
to 21 index entries, and a replaced bid, which changes an indexed column, rewrites them all).

Two kinds of index are redundant on PostgreSQL, and Django makes both unasked:
- a foreign key's own index where a constraint or an index leads with that column: a lookup by
  the key uses the longer index as well (so such keys say `db_index=False`);
- the second, `*_pattern_ops` index that `db_index=True` adds to a text column for LIKE 'abc%':
  only the columns that are searched by prefix keep one (an index in Meta.indexes does not add
  it)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue; set DATABASE_URL"
)

OURS = ("marketplace", "ledger", "printshops", "machines")

# (table, column) searched by prefix (`__startswith`), and why.
PREFIX_SEARCHED = {
    # a person's action and its retries ("key#2"), ledger.services.outbox.action_idempotency_key
    ("ledger_chaintx", "idempotency_key"),
    # a part's records, printshops.selectors.production
    ("ledger_recordleaf", "scope"),
}

# Each index of our apps' tables: its table, name, columns (as numbers), operator classes, and
# whether it is unique or partial.
INDEXES = """
SELECT t.relname, i.relname, x.indkey::text, x.indclass::text, x.indisunique,
    x.indpred IS NOT NULL
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
"""

PATTERN_INDEXES = """
SELECT t.relname, a.attname, i.relname
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_opclass o ON o.oid = x.indclass[0]
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE o.opcname LIKE '%%pattern_ops' AND t.relname = ANY(%s)
"""


def _tables() -> list[str]:
    return [
        model._meta.db_table
        for label in OURS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
        if not model._meta.auto_created  # a many-to-many's own table is Django's
    ]


@pytest.mark.django_db
def test_no_index_is_the_start_of_another() -> None:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES, [_tables()])
        indexes = cursor.fetchall()
    covered = [
        f"{table}.{name} is covered by {other}"
        for table, name, columns, classes, unique, partial in indexes
        if not unique and not partial
        for other_table, other, other_columns, other_classes, _, other_partial in indexes
        if other_table == table
        and other != name
        and not other_partial
        and f"{other_columns} ".startswith(f"{columns} ")
        and f"{other_classes} ".startswith(f"{classes} ")
    ]
    assert not covered


@pytest.mark.django_db
def test_only_columns_searched_by_prefix_have_a_prefix_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(PATTERN_INDEXES, [_tables()])
        found = {(table, column): name for table, column, name in cursor.fetchall()}
    unique = {
        (model._meta.db_table, field.column)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.unique
    }
    # A unique text column gets one too, which only a constraint instead of `unique=True` would
    # avoid; those are looked up one value at a time, and their tables are written rarely.
    unasked = {key: name for key, name in found.items() if key not in PREFIX_SEARCHED | unique}
    assert not unasked
    assert found.keys() >= PREFIX_SEARCHED
