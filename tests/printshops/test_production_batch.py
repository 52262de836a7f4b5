"""Quality measurements in batches (DESIGN.md section 3 step 9): a measurement sheet goes up
through POST /api/v1/jobs/{id}/quality/batch/ in one request, all or nothing, each entry checked
as the single endpoint checks it and named when it is refused; the database work does not grow
with the entries; the records are anchored like any other. And `part_records_add`, the service
behind it, with production events."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config.errors import DomainError
from ledger.models import RecordLeaf
from marketplace.models import AuditEvent, Job, Order, User
from printfair.production import QUALITY_BATCH_MAX
from printshops.models import EvidenceFile, PartRecord
from printshops.services import PartEntry, part_records_add
from tests.scenarios import Released, anchor_all, quality, ticket

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
STARTED = {"machine": "EOS M 290 #2", "material_lot": "Ti64-2291"}
FINISHED = {**STARTED, "outcome": "completed"}
BORE = {
    "characteristic": "Bore diameter",
    "nominal": "10.00",
    "tolerance": "0.05",
    "measured": "10.02",
    "instrument": "Mitutoyo CMM",
}


def measurement(
    serial: str, measured: str, *, tolerance: str | None = "0.05", **fields: Any
) -> dict[str, Any]:
    """The body POST quality/ takes (a batch's entry). No `tolerance`: give the split one."""
    body = {
        "part_serial": serial,
        "characteristic": "Bore diameter",
        "nominal": "10.00",
        "measured": measured,
        "instrument": "Mitutoyo CMM",
        **fields,
    }
    if tolerance is not None:
        body["tolerance"] = tolerance
    return body


def batch(shop: Client, job: Job, records: Any) -> Any:
    return shop.post(
        reverse("api_job_quality_batch", args=[job.pk]),
        {"records": records},
        content_type="application/json",
    )


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.json()
    body: dict[str, Any] = response.json()["error"]
    return body


def nothing_recorded(job: Job) -> bool:
    return (
        not PartRecord.objects.filter(order__job=job).exists()
        and not RecordLeaf.objects.filter(kind="part_record").exists()
        and not AuditEvent.objects.filter(verb__startswith="part_record.").exists()
    )


def test_a_measurement_sheet_is_recorded_in_order_numbered_per_part_and_anchored(
    released: Released,
) -> None:
    job, _, shop = released
    for serial in ("P-1", "P-2", "P-3"):
        ticket(shop, job, serial)
    # given: P-1 has a measurement already, and the shop has a photo of the set-up
    assert quality(
        shop, job, "P-1", characteristic="Bore diameter", nominal="10.00", tolerance="0.05",
        measured="10.01",
    ).status_code == 201  # fmt: skip
    photo = shop.post(
        reverse("api_job_evidence", args=[job.pk]),
        {"file": SimpleUploadedFile("plate.png", PNG)},
    )
    assert photo.status_code == 201, photo.json()
    # when: a sheet of passing and failing measurements over three parts goes up at once
    sheet = [
        measurement("P-2", "10.04"),
        measurement("P-1", "10.06", evidence=[photo.json()["id"]]),
        measurement("P-3", "9.950"),
        measurement("P-2", "9.94", tolerance=None, tolerance_minus="0.05", tolerance_plus="0.1"),
        measurement("P-1", "10.00", characteristic="Flange thickness", unit="mm"),
        measurement("P-2", "10.10", tolerance=None, tolerance_minus="0.05", tolerance_plus="0.1"),
    ]
    response = batch(shop, job, sheet)
    # then: each recorded in the order given, numbered on from each part's last, pass or fail
    # computed from the tolerance
    assert response.status_code == 201, response.json()
    results = response.json()["results"]
    assert [(r["part_serial"], r["seq"], r["passed"]) for r in results] == [
        ("P-2", 1, True),
        ("P-1", 2, False),
        ("P-3", 1, True),
        ("P-2", 2, False),
        ("P-1", 3, True),
        ("P-2", 3, True),
    ]
    assert [r["data"]["measured"] for r in results] == ["10.04", "10.06", "9.950", "9.94",
                                                        "10.00", "10.10"]  # fmt: skip
    assert {r["anchor"]["state"] for r in results} == {"waiting"}
    assert all(r["record_hash"] for r in results)
    assert results[1]["evidence"][0]["id"] == photo.json()["id"]
    assert [e["name"] for r in results for e in r["evidence"]] == ["plate.png"]
    # one audit row per record, as for a single measurement
    audited = AuditEvent.objects.filter(
        verb="part_record.quality", target_id__in=[r["id"] for r in results]
    )
    assert sorted(audited.values_list("target_id", flat=True)) == sorted(r["id"] for r in results)
    # and: anchored, final and verified against the chain, evidence included
    anchor_all()
    listing = shop.get(reverse("api_job_records", args=[job.pk])).json()["results"]
    assert len(listing) == 7 and {r["anchor"]["state"] for r in listing} == {"final"}
    call_command("verify_ledger", stdout=io.StringIO())  # passes: no SystemExit


def test_a_refused_entry_refuses_the_batch_and_is_named(released: Released) -> None:
    job, _, shop = released
    for serial in ("P-1", "P-2"):
        ticket(shop, job, serial)
    # a client cannot say whether a measurement passed: the entry is named
    claimed = error(
        batch(shop, job, [measurement("P-1", "10.00"), measurement("P-2", "10.2", passed=True)]),
        400,
    )
    assert list(claimed["fields"]) == ["records.1.passed"]
    assert claimed["message"].startswith(
        "Record 2 (part P-2): The quality record is not valid: passed: PrintFair computes this"
    )
    # an entry in the middle that is not valid: nothing of the batch is recorded
    middle = measurement("P-2", "10.00")
    del middle["measured"]
    invalid = error(
        batch(shop, job, [measurement("P-1", "10.00"), middle, measurement("P-2", "10.01")]),
        400,
    )
    assert invalid["code"] == "validation_error"
    assert invalid["fields"] == {"records.1.measured": ["This field is required."]}
    assert invalid["message"] == "Record 2 (part P-2): measured: This field is required."
    bad_number = error(
        batch(shop, job, [measurement("P-1", "10.00"), measurement("P-1", "ten"),
                          measurement("P-2", "10.01")]),
        400,
    )  # fmt: skip
    assert bad_number["fields"] == {"records.1.measured": ["Not a number."]}
    assert bad_number["message"].startswith("Record 2 (part P-1): ")
    assert nothing_recorded(job)


def test_an_unticketed_part_or_another_orders_evidence_is_refused_by_entry(
    released: Released, market: dict[str, Any]
) -> None:
    job, _, shop = released
    ticket(shop, job, "P-1")
    unknown = error(
        batch(shop, job, [measurement("P-1", "10.00"), measurement("P-9", "10.00")]), 409
    )
    assert unknown["code"] == "unknown_part"
    assert unknown["fields"] == {"records.1.part_serial": ["No print ticket names this part."]}
    assert unknown["message"].startswith("Record 2 (part P-9): No print ticket names part P-9")
    # given: an evidence file of another order (the market's other job, awarded to the same shop)
    order = Order.objects.get(job=job)
    other_order = Order.objects.create(
        job=market["jobs"][1],
        shop=order.shop,
        shop_address=order.shop_address,
        price=order.price,
        lead_time_days=order.lead_time_days,
        status=Order.Status.FUNDED,
        award_event=order.award_event,
    )
    elsewhere = EvidenceFile.objects.create(
        order=other_order,
        name="other.png",
        content_type="image/png",
        size_bytes=len(PNG),
        sha256="0" * 64,
        blob="evidence/other-order.png",
    )
    foreign = error(
        batch(shop, job, [measurement("P-1", "10.00", evidence=[str(elsewhere.pk)])]), 400
    )
    assert list(foreign["fields"]) == ["records.0.evidence"]
    assert foreign["message"] == (
        f"Record 1 (part P-1): No evidence file of this order has the id {elsewhere.pk}."
    )
    assert nothing_recorded(job)


def test_an_empty_or_oversized_batch_is_refused(released: Released) -> None:
    job, _, shop = released
    ticket(shop, job, "P-1")
    empty = error(batch(shop, job, []), 400)
    assert list(empty["fields"]) == ["records"]
    oversized = error(
        batch(shop, job, [measurement("P-1", "10.00")] * (QUALITY_BATCH_MAX + 1)), 400
    )
    assert list(oversized["fields"]) == ["records"]
    assert str(QUALITY_BATCH_MAX) in oversized["fields"]["records"][0]
    not_a_list = error(batch(shop, job, {"part_serial": "P-1"}), 400)
    assert list(not_a_list["fields"]) == ["records"]
    assert nothing_recorded(job)


def test_the_sql_statements_do_not_grow_with_the_entries(released: Released) -> None:
    job, _, shop = released
    serials = ("P-1", "P-2", "P-3")
    for serial in serials:
        ticket(shop, job, serial)

    def statements(size: int) -> int:
        sheet = [measurement(serials[n % 3], f"10.{n % 10:02d}") for n in range(size)]
        with CaptureQueriesContext(connection) as captured:
            response = batch(shop, job, sheet)
        assert response.status_code == 201, response.json()
        assert len(response.json()["results"]) == size
        return len(captured.captured_queries)

    statements(1)  # warm-up: the API key's first use is noted once
    assert statements(5) == statements(50) == statements(1)
    assert PartRecord.objects.filter(order__job=job).count() == 1 + 5 + 50 + 1


def test_the_answer_to_a_record_states_its_anchoring_without_reading_it_back(
    released: Released,
) -> None:
    """A record just stored waits for a batch, with the hash its leaf holds: the answer says so
    from what the write made, in one record's answer and in a batch's."""
    job, _, shop = released
    ticket(shop, job, "P-1")
    with CaptureQueriesContext(connection) as captured:
        one = quality(shop, job, "P-1", **BORE)
        many = batch(shop, job, [measurement("P-1", "10.01"), measurement("P-1", "10.03")])
    assert (one.status_code, many.status_code) == (201, 201), (one.json(), many.json())
    answers = [one.json(), *many.json()["results"]]
    leaves = dict(
        RecordLeaf.objects.filter(
            kind="part_record", record_id__in=[a["id"] for a in answers]
        ).values_list("record_id", "record_hash")
    )
    for answer in answers:
        assert answer["record_hash"] == leaves[answer["id"]]
        assert answer["anchor"] == {
            "state": "waiting", "batch": None, "root": None, "tx_hash": None, "block_number": None
        }  # fmt: skip
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if "ledger_recordleaf" in sql], reads


def test_events_in_a_batch_count_for_the_entries_after_them(
    released: Released, winning_shop: User
) -> None:
    job, _, shop = released
    for serial in ("P-1", "P-2"):
        ticket(shop, job, serial)
    # a print_finished after the part's print_started earlier in the same batch is accepted,
    # events and measurements mixed
    records = part_records_add(
        actor=winning_shop,
        job_id=job.pk,
        entries=[
            PartEntry(part_serial="P-1", kind="print_started", data=STARTED),
            PartEntry(part_serial="P-2", kind="print_started", data=STARTED),
            PartEntry(part_serial="P-1", kind="print_finished", data=FINISHED),
            PartEntry(part_serial="P-1", kind="quality", data=BORE),
        ],
    )
    assert [(r.part_serial, r.seq, r.kind) for r in records] == [
        ("P-1", 1, "print_started"),
        ("P-2", 1, "print_started"),
        ("P-1", 2, "print_finished"),
        ("P-1", 3, "quality"),
    ]
    assert records[3].passed is True and records[2].passed is None
    # a print_finished whose start comes later in the batch, or not at all, is refused
    # (the service takes no savepoint: a caller that goes on after a refusal takes one)
    with pytest.raises(DomainError) as refused, transaction.atomic():
        part_records_add(
            actor=winning_shop,
            job_id=job.pk,
            entries=[
                PartEntry(part_serial="P-2", kind="print_finished", data=FINISHED),
                PartEntry(part_serial="P-3", kind="print_finished", data=FINISHED),
            ],
        )
    assert refused.value.code == "unknown_part" and refused.value.status == 409
    assert list(refused.value.fields) == ["records.1.part_serial"]
    ticket(shop, job, "P-3")
    with pytest.raises(DomainError) as refused, transaction.atomic():
        part_records_add(
            actor=winning_shop,
            job_id=job.pk,
            entries=[
                PartEntry(part_serial="P-3", kind="print_finished", data=FINISHED),
                PartEntry(part_serial="P-3", kind="print_started", data=STARTED),
            ],
        )
    assert refused.value.code == "out_of_order" and refused.value.status == 409
    assert refused.value.message == (
        "Record 1 (part P-3): Part P-3 has no print_started event: report the start first."
    )
    assert list(refused.value.fields) == ["records.0"]
    # an event's data is named under the entry
    with pytest.raises(DomainError) as refused, transaction.atomic():
        part_records_add(
            actor=winning_shop,
            job_id=job.pk,
            entries=[PartEntry(part_serial="P-3", kind="shipped", data={"carrier": "DHL"})],
        )
    assert list(refused.value.fields) == ["records.0.data.tracking_number"]
    assert PartRecord.objects.filter(order__job=job).count() == 4


def test_another_shop_cannot_report_on_the_winners_parts(
    released: Released, losing_shop: User, api_client: Callable[[User], Client]
) -> None:
    # given: the winner's part with its ticket, and a verified shop that lost the auction
    job, _, shop = released
    ticket(shop, job, "P-1")
    other = api_client(losing_shop)
    # when: it reports on that part, alone and in a batch
    alone = quality(other, job, "P-1", **{k: v for k, v in BORE.items() if k != "instrument"})
    batch = other.post(
        reverse("api_job_quality_batch", args=[job.pk]),
        {"records": [{"part_serial": "P-1", **BORE}]},
        content_type="application/json",
    )
    # then: it has no order here, and nothing is written
    assert alone.status_code == batch.status_code == 404, (alone.content, batch.content)
    assert not PartRecord.objects.filter(order__job=job).exists()
