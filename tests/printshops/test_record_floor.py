"""bench/record_floor.py: the least a quality record can cost is only a floor if it does a
record's writes. A measurement through the product and the same through the floor, on one part,
must leave the same rows: the PartRecord with the part's next number, its RecordLeaf hashed as
the product hashes a record (printshops.records.part_record_content), its audit event."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from ledger.models import RecordLeaf
from marketplace.models import AuditEvent
from printfair.canonical import record_hash
from printfair.merkle import record_leaf
from printshops.models import PartRecord
from printshops.records import part_record_content
from printshops.services.production import part_scope
from tests.scenarios import Released, anchor_all, ticket

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the floors are PostgreSQL's SQL, as bench/ runs"
    ),
    pytest.mark.urls("bench.bids_urls"),
]

BORE = {
    "part_serial": "P-1",
    "characteristic": "Bore diameter",
    "nominal": "10.00",
    "tolerance": "0.05",
    "measured": "10.07",
    "unit": "mm",
    "instrument": "Mitutoyo CMM",
}


def rows(record: PartRecord) -> dict[str, Any]:
    """What a record wrote, but for its id, number and times; checking its leaf's hashes."""
    leaf = RecordLeaf.objects.get(kind="part_record", record_id=str(record.pk))
    digest = record_hash(part_record_content(record))
    assert (leaf.record_hash, leaf.leaf_hash) == (
        "0x" + digest.hex(),
        "0x" + record_leaf(digest).hex(),
    )
    assert leaf.scope == part_scope(record.order, record.part_serial) and leaf.batch is None
    event = AuditEvent.objects.get(target_type="printshops.partrecord", target_id=str(record.pk))
    return {
        "record": [
            getattr(record, name)
            for name in ("order_id", "part_serial", "kind", "data", "characteristic", "passed")
        ]
        + [record.created_by_id, record.attestation, list(record.evidence.all())],
        "event": [event.verb, event.actor_id, event.organization_id, event.data],
    }


def test_the_record_floor_writes_what_a_record_writes(released: Released) -> None:
    job, _, shop = released
    ticket(shop, job, "P-1")
    product = shop.post(reverse("api_job_quality", args=[job.pk]), BORE, "application/json")
    assert product.status_code == 201, product.json()
    # when
    floor = shop.post(f"/bench/api/record-floor/{job.pk}/", BORE, "application/json")
    # then
    assert floor.status_code == 201, floor.content
    first, second = PartRecord.objects.filter(order__job=job).order_by("seq")
    assert (first.seq, second.seq) == (1, 2) and str(second.pk) == floor.json()["id"]
    assert first.passed is False and rows(second) == rows(first)
    anchor_all()  # the floor's leaf is anchored like the product's
    assert not RecordLeaf.objects.filter(batch__isnull=True).exists()
    # a part without a ticket is refused, and nothing is written
    unticketed = {**BORE, "part_serial": "P-2"}
    refused = shop.post(f"/bench/api/record-floor/{job.pk}/", unticketed, "application/json")
    assert refused.status_code == 409
    assert PartRecord.objects.filter(order__job=job).count() == 2
