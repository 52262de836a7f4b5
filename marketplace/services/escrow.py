"""Writes for escrow and payments (DESIGN.md section 3, steps 7 and 10).

Every money movement is a call on the AuctionHouse through the outbox; none changes an order
here. The order's state moves only when the call's event is indexed and final
(marketplace/handlers.py), so what a page shows is what the chain says.

Who signs what:
- the customer's custodial wallet (key wrapped under the KEK; marketplace/services/wallets.py)
  signs `approve` + `fund`, `release` (accept), `dispute`, `claimRefund` and `withdraw`. A
  customer that registered its own address makes those calls from its own wallet instead; the
  pages say which call to make.
- the operator signs `markDelivered` (for the winning shop), `release` once the claim window
  has passed with no dispute (anyone may), `resolve` (the arbiter's decision in the admin) and
  `withdrawFor` (a shop's signed withdrawal, relayed so that shops need no gas).

What the chain says (balances, nonces) is read before the transaction that acts on it
(marketplace/selectors.py, `chain_read`): no row lock is held while the node is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.errors import DomainError
from ledger.chain import chain_config, request_web3_client
from ledger.contracts import AUCTION_HOUSE, SETTLEMENT_TOKEN, contract
from ledger.models import ChainTx, Deployment
from ledger.services.outbox import AbiValue, chaintx_enqueue
from marketplace.models import Dispute, Job, Order, User
from marketplace.selectors import chain_read, token_balance
from marketplace.services.common import (
    _require_customer,
    audit_record,
    evidence_store,
    files_kept_on_success,
    format_amount,
)
from marketplace.services.quality_gate import quality_gate, require_quality_gate
from marketplace.services.wallets import customer_wallet_custodial
from printfair.canonical import JsonValue, record_hash
from printfair.eip712 import BidError, recover_withdrawal_signer

logger = logging.getLogger(__name__)

EVIDENCE_MAX_FILES = 5

#: How far ahead a shop's signed withdrawal may expire.
WITHDRAWAL_MAX_DEADLINE = timedelta(days=1)


def _action_key(base: str) -> str:
    """The idempotency key of a customer's action: the same as the last try unless it failed, so
    that double clicks are one call and a failed call can be tried again."""
    tries = ChainTx.objects.filter(
        Q(idempotency_key=base) | Q(idempotency_key__startswith=base + "#")
    )
    latest = tries.order_by("-id").first()
    if latest is None:
        return base
    if latest.status == ChainTx.Status.FAILED:
        return f"{base}#{tries.count() + 1}"
    return latest.idempotency_key


def _customer_order(actor: User, job: Job, *expected: str) -> Order:
    organization = _require_customer(actor)
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
    after: ChainTx | None = None,
    not_before: datetime | None = None,
) -> ChainTx:
    wallet = customer_wallet_custodial(organization=order.job.organization)
    return chaintx_enqueue(
        idempotency_key=_action_key(f"escrow.{verb}:job:{order.job_id}"),
        contract=AUCTION_HOUSE,
        function=function,
        args=args,
        sender=wallet.address,
        after=after,
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
        idempotency_key=_action_key(f"escrow.approve:job:{job.pk}"),
        contract=SETTLEMENT_TOKEN,
        function="approve",
        args=[house.address, price],
        sender=wallet.address,
    )
    fund = _customer_call(order, "fund", "fund", [job.pk], after=approve)
    audit_record(actor=actor, verb="escrow.fund_requested", target=order, chain_tx=fund.pk)
    return fund


@transaction.atomic
def order_accept(*, actor: User, job: Job) -> ChainTx:
    """Accept the delivery: the escrow pays the shop (minus the platform fee)."""
    order = _customer_order(actor, job, Order.Status.DELIVERED)
    require_quality_gate(order)
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
    order = _customer_order(actor, job, Order.Status.FUNDED)
    if not order.refund_open(now=timezone.now()):
        raise DomainError(
            "A refund can be claimed once the delivery deadline has passed.",
            code="delivery_deadline_not_passed",
            status=409,
        )
    reveal_deadline = job.chain_deadline("reveal")
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


@transaction.atomic
def order_mark_delivered(*, actor: User, job_id: int) -> ChainTx:
    """The winning shop says the parts were delivered: the operator records it on chain, which
    opens the customer's claim window."""
    organization = actor.organization
    order = (
        Order.objects.select_for_update()
        .filter(job_id=job_id, shop=organization)
        .select_related("job")
        .first()
        if organization is not None
        else None
    )
    if order is None:
        raise DomainError("You have no order for this job.", code="not_found", status=404)
    if order.status != Order.Status.FUNDED:
        raise DomainError(
            f"The order is {order.get_status_display().lower()}: only a funded order can be "
            "delivered.",
            code="wrong_order_state",
            status=409,
        )
    # The claim window opens only once the job's required quality records are on chain.
    require_quality_gate(order)
    chain_tx = chaintx_enqueue(
        idempotency_key=_action_key(f"escrow.delivered:job:{job_id}"),
        contract=AUCTION_HOUSE,
        function="markDelivered",
        args=[job_id],
    )
    audit_record(actor=actor, verb="order.delivery_recorded", target=order, chain_tx=chain_tx.pk)
    return chain_tx


def escrow_auto_release_due() -> int:
    """Release every delivered order whose claim window closed without a dispute (the contract
    lets anyone do it then), unless its quality gate is not met: PrintFair does not pay for parts
    without their required passing records (the customer can still dispute)."""
    # The claim window has closed: Order.claim_window_open, as a query.
    due = Order.objects.filter(
        status=Order.Status.DELIVERED, claim_deadline__lte=timezone.now()
    ).select_related("job")
    asked = 0
    for order in due:
        job_id, claim_deadline = order.job_id, order.claim_deadline
        if not quality_gate(order=order).met:
            logger.warning("order of job %s: claim window closed, quality gate not met", job_id)
            continue
        with transaction.atomic():
            chaintx_enqueue(
                idempotency_key=f"escrow.auto_release:job:{job_id}",
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
        idempotency_key=_action_key(f"escrow.resolve:job:{order.job_id}"),
        contract=AUCTION_HOUSE,
        function="resolve",
        args=[order.job_id, shop_amount],
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


def payout_withdraw(*, actor: User, deadline: int, signature: bytes) -> ChainTx:
    """Relay a shop's signed withdrawal of its whole AuctionHouse balance to its own address.
    The chain is read first; only the queueing is a transaction."""
    organization = actor.organization
    profile = getattr(organization, "shop_profile", None)
    address = profile.eth_address if profile is not None else ""
    if profile is None or not address:
        raise DomainError(
            "Register the shop's Ethereum address first (PUT /api/v1/shop/keys/).",
            code="no_shop_key",
            status=409,
        )
    now = int(timezone.now().timestamp())
    if not now < deadline <= now + int(WITHDRAWAL_MAX_DEADLINE.total_seconds()):
        message = "The deadline must be in the future and at most a day ahead."
        raise DomainError(message, fields={"deadline": [message]})
    w3 = request_web3_client()
    house = chain_read(lambda: contract(w3, AUCTION_HOUSE))
    nonce = chain_read(lambda: int(house.functions.nonces(address).call()))
    try:
        signer = recover_withdrawal_signer(
            signature,
            chain_id=chain_config().chain_id,
            contract=house.address,
            account=address,
            nonce=nonce,
            deadline=deadline,
        )
    except BidError as exc:
        raise DomainError(str(exc), fields={"signature": [str(exc)]}) from None
    if signer != address:
        message = (
            f"The withdrawal is signed by {signer}, not by the shop's registered address "
            f"{address} (for its next nonce, {nonce})."
        )
        raise DomainError(message, code="invalid_signature", fields={"signature": [message]})
    if chain_read(lambda: int(house.functions.pendingWithdrawal(address).call())) == 0:
        raise DomainError(
            "Nothing is waiting to be withdrawn.", code="nothing_to_withdraw", status=409
        )
    with transaction.atomic():
        chain_tx = chaintx_enqueue(
            idempotency_key=f"payout.withdraw:{address}:{nonce}",
            contract=AUCTION_HOUSE,
            function="withdrawFor",
            args=[address, deadline, "0x" + signature.hex()],
        )
        audit_record(
            actor=actor, verb="payout.withdraw_requested", target=profile, chain_tx=chain_tx.pk
        )
    return chain_tx
