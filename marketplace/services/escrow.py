"""Writes for escrow and payments (DESIGN.md section 3, steps 7 and 10).

Every money movement is a call on the AuctionHouse through the outbox; none changes an order
here. The order's state moves only when the call's event is indexed and final
(marketplace/handlers.py), so what a page shows is what the chain says.

Who signs what:
- the customer's custodial wallet (key wrapped under the KEK; marketplace/services/wallets.py)
  signs `approve` + `fund`, `release` (accept), `dispute`, `claimRefund` and `withdraw`. A
  customer that registered its own address makes those calls from its own wallet instead; the
  pages say which call to make.
- the operator signs `release` once the claim window has passed with no dispute (anyone may)
  and `resolve` (the arbiter's decision in the admin); the shop's own calls, `markDelivered` and
  `withdrawFor`, are in printshops/services/orders.py.

What the chain says (balances, nonces) is read before the transaction that acts on it
(marketplace/selectors.py, `chain_read`): no row lock is held while the node is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from ledger.chain import arbiter_account, chain_config
from ledger.contracts import AUCTION_HOUSE, SETTLEMENT_TOKEN
from ledger.models import ChainTx, Deployment
from ledger.services.outbox import AbiValue, action_idempotency_key, chaintx_enqueue
from marketplace.models import Dispute, Job, Order, User
from marketplace.money import format_amount
from marketplace.selectors import escrow_call_key, token_balance
from marketplace.services.accounts import require_customer
from marketplace.services.audit import audit_record
from marketplace.services.evidence import evidence_store, files_kept_on_success
from marketplace.services.wallets import customer_wallet_custodial
from marketplace.signals import order_release_check
from printfair.canonical import JsonValue, record_hash

logger = logging.getLogger(__name__)

EVIDENCE_MAX_FILES = 5


def _customer_order(actor: User, job: Job, *expected: str) -> Order:
    organization = require_customer(actor)
    order = (
        Order.objects.select_for_update()
        .select_related("job")
        .filter(job_id=job.pk, job__organization=organization)
        .first()
    )
    if order is None:
        raise DomainError("This job has no order yet.", code="no_order", status=409)
    if order.status not in expected:
        raise DomainError(
            f"The order is {order.get_status_display().lower()}: this cannot be done now.",
            code="wrong_order_state",
            status=409,
        )
    return order


def _customer_call(
    order: Order,
    verb: str,
    function: str,
    args: Sequence[AbiValue],
    waits_for: ChainTx | None = None,
    not_before: datetime | None = None,
) -> ChainTx:
    wallet = customer_wallet_custodial(organization=order.job.organization)
    return chaintx_enqueue(
        idempotency_key=action_idempotency_key(escrow_call_key(verb, order.job_id)),
        contract=AUCTION_HOUSE,
        function=function,
        args=args,
        sender=wallet.address,
        waits_for=waits_for,
        not_before=not_before,
    )


def escrow_fund(*, actor: User, job: Job) -> ChainTx:
    """Pay the awarded price into escrow from the custodial wallet: `approve`, then `fund` once
    the approval is mined. The wallet's balance is read before the transaction (the contract
    refuses an underfunded `fund` anyway: the check only says so early)."""
    balance = token_balance(customer_wallet_custodial(organization=job.organization).address)
    return _escrow_fund(actor=actor, job=job, balance=balance)


@transaction.atomic
def _escrow_fund(*, actor: User, job: Job, balance: int) -> ChainTx:
    order = _customer_order(actor, job, Order.Status.AWARDED)
    if order.job.status == Job.Status.CANCELLING:
        raise DomainError(
            "PrintFair's operators are cancelling this job: it cannot be funded.",
            code="job_cancelling",
            status=409,
        )
    if order.funding_deadline is not None and timezone.now() >= order.funding_deadline:
        raise DomainError(
            "The funding window closed on "
            f"{order.funding_deadline:%d %b %Y %H:%M} UTC: the award expires unfunded.",
            code="funding_window_closed",
            status=409,
        )
    wallet = customer_wallet_custodial(organization=job.organization)
    price = int(order.price)
    if balance < price:
        raise DomainError(
            f"The wallet holds {format_amount(balance)} USD; funding needs "
            f"{format_amount(price)} USD. Top it up first.",
            code="insufficient_funds",
            status=409,
        )
    house = Deployment.objects.get(chain_id=chain_config().chain_id, name=AUCTION_HOUSE)
    approve = chaintx_enqueue(
        idempotency_key=action_idempotency_key(escrow_call_key("approve", job.pk)),
        contract=SETTLEMENT_TOKEN,
        function="approve",
        args=[house.address, price],
        sender=wallet.address,
    )
    fund = _customer_call(order, "fund", "fund", [job.pk], waits_for=approve)
    audit_record(actor=actor, verb="escrow.fund_requested", target=order, chain_tx=fund.pk)
    return fund


@transaction.atomic
def order_accept(*, actor: User, job: Job) -> ChainTx:
    """Accept the delivery: the escrow pays the shop (minus the platform fee)."""
    order = _customer_order(actor, job, Order.Status.DELIVERED)
    order_release_check.send(sender=Order, order=order)
    chain_tx = _customer_call(order, "accept", "release", [job.pk])
    audit_record(actor=actor, verb="order.accept_requested", target=order, chain_tx=chain_tx.pk)
    return chain_tx


@files_kept_on_success
@transaction.atomic
def order_dispute(
    *, actor: User, job: Job, statement: str, files: Sequence[UploadedFile[bytes]] = ()
) -> Dispute:
    """Dispute a delivery within the claim window. The evidence (statement and files) is kept
    here and its canonical hash goes on chain with the dispute."""
    order = _customer_order(actor, job, Order.Status.DELIVERED)
    if not order.claim_window_open(now=timezone.now()):
        raise DomainError("The claim window has closed.", code="claim_window_closed", status=409)
    statement = statement.strip()
    if not statement:
        raise DomainError(
            "Say what is wrong with the delivery.",
            fields={"statement": ["Say what is wrong with the delivery."]},
        )
    if len(files) > EVIDENCE_MAX_FILES:
        message = f"Attach at most {EVIDENCE_MAX_FILES} files."
        raise DomainError(message, fields={"evidence": [message]})
    existing = Dispute.objects.filter(order=order).select_related("dispute_tx").first()
    if existing is not None and not (
        existing.dispute_tx is not None and existing.dispute_tx.status == ChainTx.Status.FAILED
    ):
        raise DomainError("This order is already being disputed.", code="disputed", status=409)
    evidence = [evidence_store(order, upload) for upload in files]
    record: dict[str, JsonValue] = {
        "kind": "dispute_evidence",
        "job": job.pk,
        "statement": statement,
        "files": [{k: item[k] for k in ("name", "sha256", "size_bytes")} for item in evidence],
    }
    evidence_hash = "0x" + record_hash(record).hex()
    chain_tx = _customer_call(order, "dispute", "dispute", [job.pk, evidence_hash])
    dispute, _ = Dispute.objects.update_or_create(
        order=order,
        defaults={
            "opened_by": actor,
            "statement": statement,
            "evidence_files": evidence,
            "evidence_hash": evidence_hash,
            "dispute_tx": chain_tx,
        },
    )
    audit_record(actor=actor, verb="order.dispute_requested", target=order, chain_tx=chain_tx.pk)
    return dispute


@transaction.atomic
def order_claim_refund(*, actor: User, job: Job) -> ChainTx:
    """The delivery deadline passed with no delivery: the whole price comes back (and is then
    withdrawn to the wallet)."""
    order = _customer_order(actor, job, Order.Status.FUNDED, Order.Status.DELIVERED)
    if not order.refund_open(now=timezone.now()):
        raise DomainError(
            "A refund can be claimed once the delivery deadline has passed with no delivery, "
            "or within the claim window of a delivery recorded late.",
            code="delivery_deadline_not_passed",
            status=409,
        )
    reveal_deadline = job.chain_reveal_deadline
    # The contract refuses it until block time is past its delivery deadline.
    on_chain = (
        reveal_deadline + timedelta(days=order.lead_time_days, seconds=1)
        if reveal_deadline is not None
        else None
    )
    claim = _customer_call(order, "refund", "claimRefund", [job.pk], not_before=on_chain)
    audit_record(actor=actor, verb="order.refund_requested", target=order, chain_tx=claim.pk)
    return claim


# --- the operator's side ------------------------------------------------------------------------


def awards_expire_due() -> int:
    """End every award left unfunded past its funding deadline (the contract lets anyone): the
    job fails, or its award passes to the runner-up when the customer chose so. Each award is
    asked once (an award passed on is a new one, with its own deadline)."""
    due = Order.objects.filter(
        status=Order.Status.AWARDED, funding_deadline__lt=timezone.now()
    ).only("job_id", "award_event_id", "funding_deadline")
    asked = 0
    for order in due:
        assert order.funding_deadline is not None  # noqa: S101 - filtered above
        with transaction.atomic():
            chaintx_enqueue(
                idempotency_key=f"award.expire:job:{order.job_id}:{order.award_event_id}",
                contract=AUCTION_HOUSE,
                function="expireAward",
                args=[order.job_id],
                # The contract takes it once block time is past the deadline.
                not_before=order.funding_deadline + timedelta(seconds=1),
            )
        asked += 1
    return asked


def escrow_auto_release_due() -> int:
    """Release every delivered order whose claim window closed without a dispute (the contract
    lets anyone do it then), unless a receiver of order_release_check holds it (printshops: the
    quality gate; PrintFair does not pay for parts without their required passing records, and
    the customer can still dispute)."""
    # The claim window has closed: Order.claim_window_open, as a query.
    due = Order.objects.filter(
        status=Order.Status.DELIVERED, claim_deadline__lte=timezone.now()
    ).select_related("job")
    asked = 0
    for order in due:
        job_id, claim_deadline = order.job_id, order.claim_deadline
        try:
            order_release_check.send(sender=Order, order=order)
        except DomainError as exc:
            logger.warning("order of job %s: claim window closed, held: %s", job_id, exc.message)
            continue
        with transaction.atomic():
            chaintx_enqueue(
                idempotency_key=escrow_call_key("auto_release", job_id),
                contract=AUCTION_HOUSE,
                function="release",
                args=[job_id],
                not_before=claim_deadline,
            )
        asked += 1
    return asked


@transaction.atomic
def dispute_resolve(*, actor: User, order: Order, shop_amount: int, note: str) -> ChainTx:
    """The arbiter's decision: `shop_amount` of the price to the shop (minus the fee), the rest
    back to the customer. The whole price is a release, zero a refund, between a partial
    release."""
    if not actor.is_staff:
        raise DomainError(
            "Only PrintFair's arbiters resolve disputes.", code="forbidden", status=403
        )
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != Order.Status.DISPUTED:
        raise DomainError(
            f"The order is {order.get_status_display().lower()}, not disputed.",
            code="wrong_order_state",
            status=409,
        )
    if not 0 <= shop_amount <= int(order.price):
        message = f"The shop's part must be between 0 and the price, {format_amount(order.price)}."
        raise DomainError(message, fields={"shop_amount": [message]})
    chain_tx = chaintx_enqueue(
        idempotency_key=action_idempotency_key(escrow_call_key("resolve", order.job_id)),
        contract=AUCTION_HOUSE,
        function="resolve",
        args=[order.job_id, shop_amount],
        # The arbiter's own key: the relayer's role cannot resolve (the contract keeps them apart).
        sender=arbiter_account().address,
    )
    Dispute.objects.filter(order=order).update(
        resolved_by=actor,
        resolution_note=note.strip(),
        resolution_shop_amount=shop_amount,
        resolve_tx=chain_tx,
    )
    audit_record(
        actor=actor,
        verb="dispute.resolution_requested",
        target=order,
        chain_tx=chain_tx.pk,
        shop_amount=shop_amount,
    )
    return chain_tx
