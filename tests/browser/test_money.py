"""In a real browser, on a desktop and on a phone: the organisation page's money, movement by
movement from final chain events (an escrow funded, refunded, the refund withdrawn), every
amount in view."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from ledger.models import ChainEvent
from marketplace.models import CustomerWallet, Job, Order, User
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WALLET = "0x" + "Ab" * 20
_blocks = count(10)


def final_event(name: str, **args: object) -> ChainEvent:
    block = next(_blocks)
    return ChainEvent.objects.create(
        chain_id=31337, block_number=block, block_hash=f"0x{block:064x}", log_index=0,
        tx_hash=f"0x{block:064x}", contract="AuctionHouse", address="0x" + "a" * 40, name=name,
        args={key: str(value) for key, value in args.items()}, applied=True,
    )  # fmt: skip


@pytest.mark.parametrize("width", [1280, 390])
def test_the_organisation_page_shows_its_money_movement_by_movement(
    page: Page, live_server: Any, customer: User, winning_shop: User, width: int
) -> None:
    # given: the customer's escrow funded, then refunded, and the refund withdrawn
    assert customer.organization is not None and winning_shop.organization is not None
    CustomerWallet.objects.create(organization=customer.organization, address=WALLET)
    job = factories.auction_end(
        customer, {"A": winning_shop.organization},
        (Job.Status.REFUNDED, Order.Status.REFUNDED, "A", None), "Camera mount",
    )  # fmt: skip
    final_event("EscrowFunded", jobId=job.pk, amount=400_000_000, deliveryDeadline=0)
    final_event("EscrowRefunded", jobId=job.pk, amount=400_000_000)
    final_event("Withdrawn", account=WALLET.lower(), amount=400_000_000)
    page.set_viewport_size({"width": width, "height": 900})

    # when: the customer opens its organisation page
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}{reverse('organization')}")

    # then: the three movements, newest first, each in the balance it moved
    rows = page.locator("#money-history tbody tr")
    expect(rows).to_have_count(3)
    whats = [row.get_attribute("data-what") for row in rows.all()]
    assert whats == ["Withdrawn to your address", "Escrow refunded", "Escrow funded"]
    expect(rows.nth(0).locator(".wallet-amount")).to_have_text("+400.00")
    expect(rows.nth(0).locator(".pending-amount")).to_have_text("-400.00")
    expect(rows.nth(1).locator(".pending-amount")).to_have_text("+400.00")
    expect(rows.nth(2).locator(".wallet-amount")).to_have_text("-400.00")
    expect(rows.nth(2)).to_contain_text("Camera mount")
    # ... the job's rows link to its receipt (PDF)
    expect(rows.locator("a.receipt-link")).to_have_count(2)
    with page.expect_download() as download:
        rows.nth(2).locator("a.receipt-link").click()
    assert download.value.suggested_filename == f"printfair-receipt-order-{job.pk}.pdf"
    assert download.value.path().read_bytes().startswith(b"%PDF-")
    for row in rows.all():  # nothing cut off at the side
        box = row.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if width < 576:
        expect(page.locator("#money-history thead")).to_be_hidden()
