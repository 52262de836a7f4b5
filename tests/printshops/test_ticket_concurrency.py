"""Print tickets under load, on PostgreSQL: concurrent requests never take more prints than the
licence allows, and the numbers they get are 1..N without gaps or repeats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from ledger.models import ChainEvent
from marketplace.models import Order, User
from printshops.models import Licence, PrintTicket
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


def test_concurrent_tickets_never_exceed_the_licence(customer: User, winning_shop: User) -> None:
    # given: a funded order's open licence (made directly: no chain is needed for the counter)
    job = factories.JobFactory.create(created_by=customer)
    award = ChainEvent.objects.create(
        chain_id=31337, block_number=1, block_hash="0x" + "00" * 32, log_index=0,
        tx_hash="0x" + "11" * 32, contract="AuctionHouse", address="0x" + "22" * 20,
        name="AuctionFinalized", args={},
    )  # fmt: skip
    assert winning_shop.organization is not None
    order = Order.objects.create(
        job=job, shop=winning_shop.organization, shop_address="0x" + "33" * 20, price=1,
        lead_time_days=5, award_event=award, status=Order.Status.FUNDED,
    )  # fmt: skip
    licence = Licence.objects.create(
        order=order, organization=winning_shop.organization, prints_allowed=ALLOWED
    )
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
