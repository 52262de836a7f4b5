"""An organisation's money, movement by movement, from final chain events: the organisation page's
ledger. Two balances move: the organisation's wallet (test dollars from the faucet, escrows it
funds, withdrawals that reach it) and what the AuctionHouse holds for it to withdraw (refunds and
a dispute's share for a customer, releases for a shop). Amounts in the settlement token's base
units, signed: what came in is positive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import CharField, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from ledger.models import ChainEvent, ChainTx
from marketplace.models import CustomerWallet, Job, Organization
from marketplace.selectors import faucet_key

#: The escrow events that move a customer's money, and the one argument that says how much:
#: (what, into the wallet (+) or into what waits to be withdrawn).
_CUSTOMER = {
    "EscrowFunded": ("Escrow funded", "amount", "wallet", -1),
    "EscrowRefunded": ("Escrow refunded", "amount", "pending", 1),
    "DisputeResolved": ("Dispute resolved: your share", "customerAmount", "pending", 1),
}
_SHOP = {
    "EscrowReleased": ("Escrow released to you", "shopAmount", "pending", 1),
    "DisputeResolved": ("Dispute resolved: your share", "shopAmount", "pending", 1),
}


@dataclass(frozen=True)
class Movement:
    at: datetime
    what: str
    job: Job | None
    #: Into (+) or out of (-) the organisation's wallet, and what waits for it to withdraw.
    wallet: int
    pending: int
    block: int | None
    tx_hash: str


def money_history(*, organization: Organization, limit: int = 200) -> list[Movement]:
    """The organisation's movements, newest first (at most `limit`)."""
    rules = _CUSTOMER if organization.is_customer else _SHOP
    ours = (
        Job.objects.filter(organization=organization)
        if organization.is_customer
        else Job.objects.filter(order__shop=organization)
    )
    # (jobId is kept as a decimal string: the jobs' ids as text, in the same query)
    ids = ours.annotate(text=Cast("pk", CharField())).values("text")
    events = list(
        ChainEvent.objects.alias(job=KT("args__jobId"))
        .filter(
            contract="AuctionHouse", name__in=rules, applied=True, removed=False,
            job__in=Subquery(ids),
        )
        .order_by("-block_number", "-log_index")[:limit]
    )  # fmt: skip
    jobs = Job.objects.only("pk", "title").in_bulk([int(e.args["jobId"]) for e in events])
    moves = []
    for event in events:
        what, argument, where, sign = rules[event.name]
        amount = sign * int(event.args.get(argument, 0))
        if event.name == "DisputeResolved" and not organization.is_customer:
            amount -= int(event.args.get("fee", 0))  # the shop is paid its share less the fee
        if amount:
            job = jobs.get(int(event.args["jobId"]))
            moves.append(_move(event, what, job, amount, where))
    addresses = _addresses(organization)
    # (Addresses as the event spelled them, whatever their case.)
    to_us = Q(pk__in=[])
    for address in addresses:
        to_us |= Q(args__account__iexact=address)
    withdrawn = ChainEvent.objects.filter(
        to_us, contract="AuctionHouse", name="Withdrawn", applied=True, removed=False
    )
    for out in withdrawn.order_by("-block_number", "-log_index")[:limit]:
        amount = int(out.args["amount"])
        moves.append(
            Movement(out.created_at, "Withdrawn to your address", None, amount, -amount,
                     out.block_number, out.tx_hash)
        )  # fmt: skip
    if organization.is_customer:
        moves.extend(_faucet(addresses, limit))
    moves.sort(key=lambda move: (move.block or 0, move.at), reverse=True)
    return moves[:limit]


def _move(event: ChainEvent, what: str, job: Job | None, amount: int, where: str) -> Movement:
    wallet, pending = (amount, 0) if where == "wallet" else (0, amount)
    return Movement(event.created_at, what, job, wallet, pending, event.block_number, event.tx_hash)


def _addresses(organization: Organization) -> list[str]:
    """The organisation's addresses on chain: its wallet (a customer) or its registered key (a
    shop), as the events spell them (checksummed)."""
    if organization.is_customer:
        wallet = CustomerWallet.objects.filter(organization=organization).first()
        return [wallet.address] if wallet else []
    profile = getattr(organization, "shop_profile", None)
    return [profile.eth_address] if profile is not None and profile.eth_address else []


def _faucet(addresses: list[str], limit: int) -> list[Movement]:
    """Test dollars the faucet minted to the wallet (local chains), once final."""
    if not addresses:
        return []
    minted = ChainTx.objects.filter(
        idempotency_key__startswith=faucet_key(addresses[0]) + "#",
        function="mint", status=ChainTx.Status.FINAL,
    ).order_by("-block_number")[:limit]  # fmt: skip
    return [
        Movement(tx.updated_at, "Test dollars from the faucet", None, int(tx.args[1]), 0,
                 tx.block_number, tx.tx_hash)
        for tx in minted
    ]  # fmt: skip
