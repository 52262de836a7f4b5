"""Receipts as PDFs (printshops/receipts.py): the customer's for an order paid into escrow, what
the escrow did with it since, and where the chain shows it; a shop's for a payout. Each party's
own, none before the payment is final, and every name as given."""

from __future__ import annotations

import io
from typing import Any

from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from ledger.models import ChainEvent
from marketplace.models import Job, Order, Organization, Payout, User
from printshops.receipts import Receipt, receipt_pdf
from tests import factories


def final_event(name: str, block: int, **args: object) -> ChainEvent:
    return ChainEvent.objects.create(
        chain_id=31337, block_number=block, block_hash=f"0x{block:064x}", log_index=0,
        tx_hash=f"0x{block:064x}", contract="AuctionHouse", address="0x" + "a" * 40, name=name,
        args={key: str(value) for key, value in args.items()}, applied=True,
    )  # fmt: skip


def text(response: Any) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


def test_the_customer_gets_a_receipt_for_what_it_paid_into_escrow(
    customer: User, other_customer: User, winning_shop: User, login: Any
) -> None:
    # given: a customer whose name is not ASCII, an order it paid for, and one it did not yet
    organization, shop = customer.organization, winning_shop.organization
    assert organization is not None and shop is not None
    Organization.objects.filter(pk=organization.pk).update(name="Łódź Drones Sp. z o.o.")
    customer.refresh_from_db()
    funded = (Job.Status.FUNDED, Order.Status.FUNDED, "A", None)
    paid = factories.auction_end(customer, {"A": shop}, funded, "Rear case")
    final_event("EscrowFunded", 77, jobId=paid.pk, amount=400_000_000, deliveryDeadline=0)
    awarded = (Job.Status.AWARDED, Order.Status.AWARDED, "A", None)
    unpaid = factories.auction_end(customer, {"A": shop}, awarded, "Bracket")
    browser = login(customer)

    # when: it downloads the paid order's receipt
    receipt = text(browser.get(reverse("order_receipt", args=[paid.pk])))

    # then: what was paid, by whom, to whom, and where the chain shows it
    assert "Łódź Drones" in receipt and "Layer Works" in receipt
    assert f"#{paid.pk} Rear case" in receipt and "400.00 USD" in receipt
    assert "held in escrow" in receipt and f"{77:064x}" in "".join(receipt.split())
    # ... and, once the escrow is settled, how
    Order.objects.filter(job=paid).update(
        status=Order.Status.RELEASED, shop_amount=390_000_000, fee=10_000_000
    )
    receipt = text(browser.get(reverse("order_receipt", args=[paid.pk])))
    assert "released to the shop: 390.00 USD" in receipt and "10.00 USD" in receipt
    # and: nothing for what was not paid, nor for anyone else's order
    assert browser.get(reverse("order_receipt", args=[unpaid.pk])).status_code == 404
    assert login(other_customer).get(reverse("order_receipt", args=[paid.pk])).status_code == 404
    assert login(winning_shop).get(reverse("order_receipt", args=[paid.pk])).status_code == 404


def test_a_shop_gets_a_receipt_for_its_payout(
    winning_shop: User, losing_shop: User, login: Any
) -> None:
    shop = winning_shop.organization
    address = "0x" + "C" * 40
    payout = Payout.objects.create(
        account=address, organization=shop, amount=390_000_000,
        event=final_event("Withdrawn", 88, account=address, amount=390_000_000),
    )  # fmt: skip
    receipt = text(login(winning_shop).get(reverse("payout_receipt", args=[payout.pk])))
    assert "Payout receipt" in receipt and "390.00 USD" in receipt and address in receipt
    assert login(losing_shop).get(reverse("payout_receipt", args=[payout.pk])).status_code == 404


def test_an_empty_or_long_value_still_makes_a_receipt() -> None:
    """A value with nothing in it (an address not known) prints as "-", a long one wraps."""
    receipt = Receipt(
        "Receipt", "order 1", "Acme", timezone.now(),
        [("Empty", "", True), ("Long", "0x" + "ab" * 200, True), ("Words", "word " * 80, False)],
        "A note.",
    )  # fmt: skip
    pdf = "".join(page.extract_text() for page in PdfReader(io.BytesIO(receipt_pdf(receipt))).pages)
    assert "Empty" in pdf and "ab" * 30 in "".join(pdf.split())
