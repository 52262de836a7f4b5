"""Receipts as PDFs (printshops/receipts.py): the customer's for an order it paid into escrow,
and a shop's for a payout it withdrew. Each party's own only; none before its chain event is
final."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from ledger.models import Deployment
from marketplace import selectors as job_selectors
from marketplace.models import Job, Order, Payout
from marketplace.money import format_amount
from marketplace.views.common import request_user
from printshops.receipts import Line, Receipt, receipt_pdf


def _pdf(receipt: Receipt, name: str) -> HttpResponse:
    response = HttpResponse(receipt_pdf(receipt), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


def _chain_lines(block: int, tx_hash: str) -> list[Line]:
    house = Deployment.objects.filter(chain_id=settings.CHAIN_ID, name="AuctionHouse").first()
    return [
        ("Chain", f"{settings.CHAIN_ID}, block {block}", False),
        ("AuctionHouse", house.address if house else "-", True),
        ("Transaction", tx_hash, True),
    ]


def _settlement(job: Job, order: Order) -> str:
    """How the escrow was settled, as its final events say (or that it still holds it)."""
    if order.status == Order.Status.RELEASED:
        return (
            f"released to the shop: {format_amount(order.shop_amount or 0)} USD, "
            f"and the platform fee, {format_amount(order.fee or 0)} USD"
        )
    if order.status == Order.Status.REFUNDED:
        return f"refunded to you: {format_amount(order.customer_amount or 0)} USD"
    if order.status == Order.Status.RESOLVED:
        return (
            f"dispute resolved: {format_amount(order.customer_amount or 0)} USD to you, "
            f"{format_amount(order.shop_amount or 0)} USD to the shop, "
            f"{format_amount(order.fee or 0)} USD fee"
        )
    return f"held in escrow ({order.get_status_display().lower()})"


@login_required
@require_GET
def order_receipt(request: HttpRequest, job_id: int) -> HttpResponse:
    """The customer's receipt for the payment of its order into escrow, once EscrowFunded is
    final; what became of it since."""
    job = job_selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    order = Order.objects.filter(job=job).select_related("shop").first()
    funded = job_selectors.job_money_trail(job=job).filter(name="EscrowFunded").last()
    if order is None or funded is None:
        raise Http404("Nothing has been paid for this job yet.")
    parts = f"{job.quantity} part{'s' if job.quantity != 1 else ''}"
    if job.spares:
        parts += f" + {job.spares} spare{'s' if job.spares != 1 else ''}"
    receipt = Receipt(
        title="Receipt",
        number=f"order {job.pk}",
        issued_to=job.organization.name,
        when=funded.created_at,
        lines=[
            ("Job", f"#{job.pk} {job.title}", False),
            ("Print shop", order.shop.name, False),
            ("Quantity", parts, False),
            ("Paid into escrow", f"{format_amount(int(funded.args['amount']))} USD", False),
            ("Price rule", job.get_pricing_rule_display(), False),
            ("Escrow", _settlement(job, order), False),
            *_chain_lines(funded.block_number, funded.tx_hash),
        ],
        note="Amounts in the settlement token's dollars. The escrow holds the payment until the "
        "parts are accepted, disputed and resolved, or the claim window closes; the "
        "AuctionHouse contract pays it out, not PrintFair. Anyone can check this receipt on "
        "chain: the transaction above emitted EscrowFunded for this job and amount.",
    )
    return _pdf(receipt, f"printfair-receipt-order-{job.pk}.pdf")


@login_required
@require_GET
def payout_receipt(request: HttpRequest, payout_id: int) -> HttpResponse:
    """A shop's receipt for a payout it withdrew (a final Withdrawn event)."""
    organization = request_user(request).organization
    payout = (
        Payout.objects.filter(pk=payout_id, organization=organization)
        .select_related("event", "organization")
        .first()
    )
    if payout is None or organization is None:
        raise Http404("No such payout.")
    receipt = Receipt(
        title="Payout receipt",
        number=f"payout {payout.pk}",
        issued_to=organization.name,
        when=payout.created_at,
        lines=[
            ("Paid out", f"{format_amount(payout.amount)} USD", False),
            ("To the address", payout.account, True),
            *_chain_lines(payout.event.block_number, payout.event.tx_hash),
        ],
        note="Amounts in the settlement token's dollars, withdrawn from the AuctionHouse to "
        "the shop's registered address. Anyone can check this receipt on chain: the "
        "transaction above emitted Withdrawn for this address and amount.",
    )
    return _pdf(receipt, f"printfair-payout-{payout.pk}.pdf")
