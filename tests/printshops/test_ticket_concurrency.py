"""Print tickets and quality records under load, on PostgreSQL: concurrent requests never take
more prints than the licence allows, and the numbers tickets and a part's records get are 1..N
without gaps or repeats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from ledger.models import ChainEvent
from marketplace.models import Order, User
from printshops.models import Licence, PartRecord, PrintTicket
from printshops.services import api_key_create
from tests import factories
from tests.scenarios import api_post, at_once

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrency needs PostgreSQL (SQLite serialises writers); set DATABASE_URL",
    ),
    pytest.mark.django_db(transaction=True),
]

ALLOWED = 11
REQUESTS = 30


def _licence(customer: User, shop: User) -> Licence:
    """A funded order's open licence (made directly: no chain is needed for the counter)."""
    job = factories.JobFactory.create(created_by=customer)
    award = ChainEvent.objects.create(
        chain_id=31337, block_number=1, block_hash="0x" + "00" * 32, log_index=0,
        tx_hash="0x" + "11" * 32, contract="AuctionHouse", address="0x" + "22" * 20,
        name="AuctionFinalized", args={},
    )  # fmt: skip
    assert shop.organization is not None
    order = Order.objects.create(
        job=job, shop=shop.organization, shop_address="0x" + "33" * 20, price=1,
        lead_time_days=5, award_event=award, status=Order.Status.FUNDED,
    )  # fmt: skip
    return Licence.objects.create(
        order=order, organization=shop.organization, prints_allowed=ALLOWED
    )


def test_concurrent_tickets_never_exceed_the_licence(customer: User, winning_shop: User) -> None:
    # given
    licence = _licence(customer, winning_shop)
    job = licence.order.job
    _, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    url = reverse("api_job_tickets", args=[job.pk])

    # when: more requests than prints, all at once
    def take(n: int) -> Callable[[], Any]:
        return lambda: api_post(token, url, {"machine": f"M{n % 3}", "part_serial": f"S-{n}"})

    responses = at_once([take(n) for n in range(REQUESTS)])
    # then
    codes = Counter(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "")
        for r in responses
    )
    assert codes == {(201, ""): ALLOWED, (409, "licence_exhausted"): REQUESTS - ALLOWED}, codes
    numbers = sorted(PrintTicket.objects.filter(licence=licence).values_list("number", flat=True))
    assert numbers == list(range(1, ALLOWED + 1))
    licence.refresh_from_db()
    assert licence.prints_taken == ALLOWED


def test_concurrent_records_of_a_part_are_numbered_without_gaps_or_repeats(
    customer: User, winning_shop: User
) -> None:
    # given: a part with its print ticket
    job = _licence(customer, winning_shop).order.job
    _, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    ticket = api_post(
        token, reverse("api_job_tickets", args=[job.pk]), {"machine": "M", "part_serial": "P-1"}
    )
    assert ticket.status_code == 201, ticket.content
    url = reverse("api_job_quality", args=[job.pk])

    # when: many measurements of the part at once; each locks the order, then reads the part's
    # last number in the same round trip (config.queries.together)
    def measure(n: int) -> Callable[[], Any]:
        return lambda: api_post(token, url, {
            "part_serial": "P-1", "characteristic": f"Wall {n}", "nominal": "2.0",
            "tolerance": "0.1", "measured": "2.05", "instrument": "Caliper",
        })  # fmt: skip

    responses = at_once([measure(n) for n in range(REQUESTS)])
    # then: every one is taken, with a number of its own
    assert [r.status_code for r in responses] == [201] * REQUESTS, [r.content for r in responses]
    numbers = sorted(r.json()["seq"] for r in responses)
    assert numbers == list(range(1, REQUESTS + 1))
    stored = PartRecord.objects.filter(order__job=job, part_serial="P-1")
    assert sorted(stored.values_list("seq", flat=True)) == numbers
