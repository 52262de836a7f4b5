"""config.rows.NewRows: several models' new rows in one statement on PostgreSQL, the rows that
bulk_create writes (with SQLite it is bulk_create)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from config.rows import NewRows
from ledger.models import RecordLeaf
from marketplace.models import AuditEvent, User

pytestmark = pytest.mark.django_db


def _events(actor: User, verb: str) -> list[AuditEvent]:
    return [
        AuditEvent(actor=actor, organization=None, verb=verb, target_type="t", target_id=str(n))
        for n in range(3)
    ] + [AuditEvent(actor=None, verb=verb, target_type="t", target_id="x", data={"a": [1, "é"]})]


def _leaves(prefix: str) -> list[RecordLeaf]:
    return [
        RecordLeaf(kind="test", record_id=f"{prefix}{n}", record_hash="0x1", leaf_hash="0x2")
        for n in range(3)
    ]


def _stored(model: Any, **where: Any) -> list[dict[str, Any]]:
    skip = {"id", "created_at", "verb", "record_id"}
    return [
        {k: v for k, v in model_to_dict(row).items() if k not in skip}
        for row in model.objects.filter(**where).order_by("id")
    ]


def test_the_rows_are_those_bulk_create_writes_in_one_statement(customer: User) -> None:
    AuditEvent.objects.bulk_create(_events(customer, "by_orm"))
    RecordLeaf.objects.bulk_create(_leaves("orm"))
    events, leaves = _events(customer, "by_rows"), _leaves("rows")
    new = NewRows()
    new.add(events)
    new.add(leaves, ignore_conflicts=True)
    assert all(event.created_at is not None for event in events)  # set by add, as bulk_create
    with CaptureQueriesContext(connection) as statements:
        new.insert()
    assert len(statements) == (1 if connection.vendor == "postgresql" else 0)
    assert _stored(AuditEvent, verb="by_rows") == _stored(AuditEvent, verb="by_orm")
    assert _stored(RecordLeaf, record_id__startswith="rows") == _stored(
        RecordLeaf, record_id__startswith="orm"
    )
    stored = AuditEvent.objects.filter(verb="by_rows").order_by("id")
    assert [e.created_at for e in stored] == [e.created_at for e in events]
    assert not events[0]._state.adding


def test_rows_that_conflict_are_left_out_when_asked_and_refused_otherwise() -> None:
    RecordLeaf.objects.bulk_create(_leaves("a"))
    new = NewRows()
    new.add([*_leaves("a"), *_leaves("b")], ignore_conflicts=True)
    new.insert()
    assert RecordLeaf.objects.filter(kind="test").count() == 6
    again = NewRows()
    with pytest.raises(IntegrityError):
        again.add(_leaves("b"))
        again.insert()


def test_a_model_is_added_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("elsewhere each add is a bulk_create of its own")
    new = NewRows()
    new.add(_leaves("a"))
    with pytest.raises(ValueError, match="added already"):
        new.add(_leaves("b"))
