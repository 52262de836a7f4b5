"""What a shop does with an order it won, through the operator (DESIGN.md section 3, steps 9
and 10): say the parts were delivered (`markDelivered`, which opens the customer's claim window)
and withdraw what the escrow paid it (`withdrawFor`, its own signed withdrawal relayed so that
shops need no gas). The customer's escrow calls are in marketplace/services/escrow.py."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from ledger.chain import chain_config, request_web3_client
from ledger.contracts import AUCTION_HOUSE, contract
from ledger.models import ChainTx
from ledger.services.outbox import action_idempotency_key, chaintx_enqueue
from marketplace.models import Order, User
from marketplace.selectors import chain_read, escrow_call_key
from marketplace.services.audit import audit_record
from printfair.eip712 import BidError
from printfair.withdrawals import recover_withdrawal_signer
from printshops.selectors.shop import payout_withdraw_key
from printshops.services.quality_gate import require_quality_gate

#: How far ahead a shop's signed withdrawal may expire.
WITHDRAWAL_MAX_DEADLINE = timedelta(days=1)


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
        idempotency_key=action_idempotency_key(escrow_call_key("delivered", job_id)),
        contract=AUCTION_HOUSE,
        function="markDelivered",
        args=[job_id],
    )
    audit_record(actor=actor, verb="order.delivery_recorded", target=order, chain_tx=chain_tx.pk)
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
            idempotency_key=f"{payout_withdraw_key(address)}{nonce}",
            contract=AUCTION_HOUSE,
            function="withdrawFor",
            args=[address, deadline, "0x" + signature.hex()],
        )
        audit_record(
            actor=actor, verb="payout.withdraw_requested", target=profile, chain_tx=chain_tx.pk
        )
    return chain_tx
