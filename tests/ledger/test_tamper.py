"""Tamper evidence (DESIGN.md section 4): records modified, deleted (alone or with their leaves)
and reordered at random in the database after anchoring are each reported by verify_ledger, and
the customer's and the public pages show them failing verification."""

from __future__ import annotations

import io
import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from ledger.models import RecordLeaf
from marketplace.models import Job, User
from printfair.hpke import HpkePrivateKey
from printshops.models import PartRecord, PrintTicket
from tests.scenarios import anchor_all, event, produce

PARTS = 4


def verify_ledger() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def findings(output: str) -> dict[str, str]:
    """`kind:id` -> problem, from verify_ledger's lines."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"(ALTERED|REMOVED|NOT ANCHORED)\s+(\S+)", line)
        if match:
            found[match.group(2)] = match.group(1).lower()
    return found


@pytest.mark.parametrize("seed", [7, 2024, 31337])
def test_random_tampering_is_reported_by_verify_ledger_and_the_pages(
    seed: int,
    released: tuple[Job, HpkePrivateKey, Client],
    customer: User,
    login: Callable[[User | None], Client],
) -> None:
    job, _, shop = released
    for number in range(PARTS):
        serial = f"S-{number}"
        produce(shop, job, serial, measured=f"10.0{number}")
        assert event(shop, job, serial, "delivered", received_by="Goods in").status_code == 201
    anchor_all()
    assert verify_ledger() == (0, "Ledger verified: every record matches the chain.\n")

    rng = random.Random(seed)
    records = list(PartRecord.objects.order_by("part_serial", "seq"))
    rng.shuffle(records)
    modified, deleted, deleted_with_leaf = records[:3], records[3:5], records[5:6]
    expected: dict[str, str] = {}
    changes: list[dict[str, Any]] = [
        {"occurred_at": "2020-01-01T00:00:00Z"},
        {"part_serial": "S-99"},
        {"data": {"note": "edited"}},
        {"passed": True, "characteristic": "Other"},
    ]
    for record in modified:
        PartRecord.objects.filter(pk=record.pk).update(**rng.choice(changes))
        expected[f"part_record:{record.pk}"] = "altered"
    for record in deleted:
        PartRecord.objects.filter(pk=record.pk).delete()
        expected[f"part_record:{record.pk}"] = "removed"
    for record in deleted_with_leaf:
        RecordLeaf.objects.filter(kind="part_record", record_id=str(record.pk)).delete()
        PartRecord.objects.filter(pk=record.pk).delete()
    # reordered: two records of one untouched part swap their numbers
    touched = {r.pk for r in modified + deleted + deleted_with_leaf}
    intact = [
        serial
        for serial in {r.part_serial for r in records}
        if not PartRecord.objects.filter(part_serial=serial, pk__in=touched).exists()
        and PartRecord.objects.filter(part_serial=serial).count() >= 2
    ]
    swapped: list[PartRecord] = []
    if intact:
        first, second = rng.sample(
            list(PartRecord.objects.filter(part_serial=rng.choice(sorted(intact)))), 2
        )
        PartRecord.objects.filter(pk=first.pk).update(seq=10_000)
        PartRecord.objects.filter(pk=second.pk).update(seq=first.seq)
        PartRecord.objects.filter(pk=first.pk).update(seq=second.seq)
        swapped = [first, second]
        for record in swapped:
            expected[f"part_record:{record.pk}"] = "altered"
    # and a print ticket names another machine
    ticket = PrintTicket.objects.order_by("?").first()
    assert ticket is not None
    PrintTicket.objects.filter(pk=ticket.pk).update(machine="Somebody else's printer")
    expected[f"print_ticket:{ticket.pk}"] = "altered"

    status, output = verify_ledger()
    assert status == 1
    found = findings(output)
    for name, problem in expected.items():
        assert found.get(name) == problem, f"seed {seed}: {name} not reported as {problem}"
    # the record deleted with its leaf: its batch no longer holds what the chain committed to
    assert any(name.startswith("batch:") and p == "removed" for name, p in found.items())

    # the pages: every affected part fails verification, each altered record says so
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    for record in modified + deleted + deleted_with_leaf + swapped:
        now = PartRecord.objects.filter(pk=record.pk).values_list("part_serial", flat=True)
        for part in {record.part_serial, *now}:
            assert f'data-part="{part}" data-failing="true"' in page, f"seed {seed}: {part}"
    anonymous = Client()
    for record in modified + swapped:
        public = anonymous.get(reverse("verify_record", args=[record.pk])).content.decode()
        assert 'data-status="failed"' in public, f"seed {seed}: {record.pk}"
    for record in deleted:
        gone = anonymous.get(reverse("verify_record", args=[record.pk]))
        assert gone.status_code == 410 and 'data-status="failed"' in gone.content.decode()
    for record in deleted_with_leaf:  # nothing left that knows the id
        assert anonymous.get(reverse("verify_record", args=[record.pk])).status_code == 404
