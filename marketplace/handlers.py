"""What the ledger's events mean to the marketplace (ledger/handlers.py dispatches them)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace import selectors
from marketplace.models import AuditEvent, CustomerWallet, DesignFile, Job, Order, Payout
from marketplace.services import audit_record
from printshops.models import Bid, PrintShopProfile
from printshops.services import certificates_issue, licence_close, licence_open

logger = logging.getLogger(__name__)

REGISTRATION_FINAL = "design_file.registration_final"


def design_registration_unconfirm(event: ChainEvent) -> None:
    """A reorg took the registration away: what `design_registration_confirm` recorded about it
    was never true of the final chain."""
    AuditEvent.objects.filter(verb=REGISTRATION_FINAL, data__chain_event=event.pk).delete()


@event_handler("DesignRegistry", "DesignRegistered", revert=design_registration_unconfirm)
def design_registration_confirm(event: ChainEvent) -> None:
    """Records, on every design file with the registered hash whose organisation the owner
    reference names, that its proof of existence is final on chain, and whether our own
    registration made it. Anyone with the registrar role can call the contract directly, so the
    pair may have been registered by someone else first; our registration then fails, and this
    record says who was first. Other organisations' files of the same hash are not concerned:
    each has its own registration."""
    sha256 = event.args["designHash"].removeprefix("0x")
    files = DesignFile.objects.filter(
        sha256=sha256, job__organization__owner_ref=event.args["ownerRef"]
    ).select_related("registration")
    if not files:
        logger.info("design hash %s registered outside PrintFair (tx %s)", sha256, event.tx_hash)
    for design_file in files:
        ours = design_file.registration is not None and (
            design_file.registration.tx_hash == event.tx_hash
        )
        if not ours:
            logger.warning(
                "design file %s: its hash was registered by tx %s, not by its own registration",
                design_file.pk,
                event.tx_hash,
            )
        audit_record(
            actor=None,
            verb=REGISTRATION_FINAL,
            target=design_file,
            chain_event=event.pk,
            block_number=event.block_number,
            tx_hash=event.tx_hash,
            owner_ref=event.args["ownerRef"],
            ours=ours,
        )


def order_unaward(event: ChainEvent) -> None:
    """A reorg took the award away: the job waits for the award on the final chain."""
    job_id = int(event.args["jobId"])
    Order.objects.filter(job_id=job_id, award_event=event).delete()
    Job.objects.filter(pk=job_id, status=Job.Status.AWARDED).update(status=Job.Status.OPEN)


@event_handler("AuctionHouse", "AuctionFinalized", revert=order_unaward)
def order_award(event: ChainEvent) -> None:
    """The auction picked its winner: the job becomes an order with the winning shop."""
    job = Job.objects.select_for_update().filter(pk=int(event.args["jobId"])).first()
    winner = event.args["winner"]
    shop = PrintShopProfile.objects.filter(eth_address=winner).select_related("organization")
    profile = shop.first()
    if job is None or profile is None:
        logger.warning("AuctionFinalized for job %s / shop %s unknown here", event.args, winner)
        return
    order = Order.objects.create(
        job=job,
        shop=profile.organization,
        shop_address=winner,
        price=int(event.args["price"]),
        lead_time_days=int(event.args["leadTimeDays"]),
        award_event=event,
    )
    job.status = Job.Status.AWARDED
    job.save(update_fields=["status", "updated_at"])
    audit_record(actor=None, verb="job.awarded", target=order, job=job.pk, shop=winner)


def auction_unfail(event: ChainEvent) -> None:
    Job.objects.filter(pk=int(event.args["jobId"]), status=Job.Status.FAILED).update(
        status=Job.Status.OPEN
    )


@event_handler("AuctionHouse", "AuctionFailed", revert=auction_unfail)
def auction_fail(event: ChainEvent) -> None:
    """No valid bid under the reserve: the job failed, and its customer is told (the job page
    and the audit trail say so)."""
    job = Job.objects.filter(pk=int(event.args["jobId"])).first()
    if job is None:
        return
    job.status = Job.Status.FAILED
    job.save(update_fields=["status", "updated_at"])
    audit_record(actor=None, verb="job.auction_failed", target=job)


# --- sealed bids made or revealed on chain --------------------------------------------------


@event_handler("AuctionHouse", "BidCommitted")
def bid_commit_record(event: ChainEvent) -> None:
    """A commitment made directly on chain (a shop may call the contract itself) becomes the
    shop's bid here too; one relayed from the API is already here. No revert: on a reorg the
    newer version of the final chain arrives as its own event."""
    args = event.args
    job = Job.objects.filter(pk=int(args["jobId"])).first()
    profile = PrintShopProfile.objects.filter(eth_address=args["shop"]).first()
    if job is None or profile is None:
        logger.info("BidCommitted for job %s by %s unknown here", args["jobId"], args["shop"])
        return
    version = int(args["version"])
    bid = Bid.objects.select_for_update().filter(job=job, organization=profile.organization).first()
    if bid is None:
        Bid.objects.create(
            job=job,
            organization=profile.organization,
            shop_address=args["shop"],
            commitment=args["commitment"],
            version=version,
            signature=b"",
        )
        audit_record(actor=None, verb="bid.committed_on_chain", target=job, shop=args["shop"])
    elif version > bid.version:
        bid.commitment, bid.version, bid.shop_address = args["commitment"], version, args["shop"]
        bid.signature, bid.commit_tx = b"", None
        bid.save(
            update_fields=[
                "commitment",
                "version",
                "shop_address",
                "signature",
                "commit_tx",
                "updated_at",
            ]
        )


def bid_reveal_unconfirm(event: ChainEvent) -> None:
    Bid.objects.filter(reveal_event=event).update(reveal_event=None)


@event_handler("AuctionHouse", "BidRevealed", revert=bid_reveal_unconfirm)
def bid_reveal_confirm(event: ChainEvent) -> None:
    """The revealed price is final on chain: the customer's ranking shows it (after the reveal
    deadline), whoever sent the reveal."""
    args = event.args
    profile = PrintShopProfile.objects.filter(eth_address=args["shop"]).first()
    if profile is None:
        return
    Bid.objects.filter(job_id=int(args["jobId"]), organization=profile.organization).update(
        status=Bid.Status.REVEALED,
        price=int(args["price"]),
        lead_time_days=int(args["leadTimeDays"]),
        reveal_event=event,
    )


# --- escrow ---------------------------------------------------------------------------------
# Each escrow event moves the order (and its job) one step of the contract's state machine; on a
# reorg its revert moves them back to the state before, which the state machine makes unique.


def _when(timestamp: object) -> datetime:
    return datetime.fromtimestamp(int(str(timestamp)), tz=UTC)


@dataclass(frozen=True)
class EscrowStep:
    event: str
    # (order state, job state) before and after the event
    before: tuple[str, str]
    after: tuple[str, str]
    # The order's fields the event sets, from its arguments (cleared again on a revert).
    fields: Callable[[dict[str, Any]], dict[str, object]] = lambda args: {}
    # What else the step does to the order's licence (printshops/services/releases.py), and
    # what undoes that on a reorg.
    effect: Callable[[Order], object] | None = None
    undo: Callable[[Order], object] | None = None

    def apply(self, event: ChainEvent) -> None:
        order = Order.objects.select_for_update().filter(job_id=int(event.args["jobId"])).first()
        if order is None:
            logger.warning("%s for job %s, which has no order here", self.event, event.args)
            return
        self._set(order, self.after, event, self.fields(event.args))
        audit_record(actor=None, verb=f"order.{order.status}", target=order, chain_event=event.pk)
        if self.effect is not None:
            self.effect(order)

    def revert(self, event: ChainEvent) -> None:
        order = Order.objects.filter(job_id=int(event.args["jobId"]), last_event=event).first()
        if order is None:
            return
        earlier = (
            selectors.job_money_trail(job=order.job)
            .exclude(pk=event.pk)
            .order_by("-block_number", "-log_index")
            .first()
        )
        cleared = dict.fromkeys(self.fields(event.args))
        self._set(order, self.before, earlier, cleared)
        audit_record(actor=None, verb="order.reorged", target=order, chain_event=event.pk)
        if self.undo is not None:
            self.undo(order)

    @staticmethod
    def _set(
        order: Order, states: tuple[str, str], event: ChainEvent | None, fields: dict[str, object]
    ) -> None:
        order.status, order.last_event = states[0], event
        for name, value in fields.items():
            setattr(order, name, value)
        order.save()
        Job.objects.filter(pk=order.job_id).update(status=states[1])


_AWARDED = (Order.Status.AWARDED, Job.Status.AWARDED)
_FUNDED = (Order.Status.FUNDED, Job.Status.FUNDED)
_DELIVERED = (Order.Status.DELIVERED, Job.Status.DELIVERED)
_DISPUTED = (Order.Status.DISPUTED, Job.Status.DISPUTED)


def _closes_licence(reason: str) -> Callable[[Order], object]:
    return lambda order: licence_close(order=order, reason=reason)


ESCROW_STEPS = (
    # Funded: the designs go to the winner, under a licence. A reorg that takes the funding
    # away revokes them (a shop that already decrypted a file keeps it: DESIGN.md section 5).
    EscrowStep(
        "EscrowFunded",
        _AWARDED,
        _FUNDED,
        effect=lambda order: licence_open(order=order),
        undo=_closes_licence("funding_reorged"),
    ),
    EscrowStep(
        "DeliveryRecorded",
        _FUNDED,
        _DELIVERED,
        lambda args: {
            "delivered_at": _when(args["deliveredAt"]),
            "claim_deadline": _when(args["claimDeadline"]),
        },
    ),
    EscrowStep(
        "EscrowReleased",
        _DELIVERED,
        (Order.Status.RELEASED, Job.Status.ACCEPTED),
        lambda args: {"shop_amount": int(args["shopAmount"]), "fee": int(args["fee"])},
        # Accepted: the licence closes, and each shipped part gets its certificate.
        effect=lambda order: (
            licence_close(order=order, reason="accepted"),
            certificates_issue(order=order),
        ),
    ),
    EscrowStep("EscrowDisputed", _DELIVERED, _DISPUTED),
    EscrowStep(
        "DisputeResolved",
        _DISPUTED,
        (Order.Status.RESOLVED, Job.Status.RESOLVED),
        # The event's shopAmount is before the fee; the order keeps what the shop is paid.
        lambda args: {
            "shop_amount": int(args["shopAmount"]) - int(args["fee"]),
            "fee": int(args["fee"]),
            "customer_amount": int(args["customerAmount"]),
        },
        effect=_closes_licence("resolved"),
    ),
    EscrowStep(
        "EscrowRefunded",
        _FUNDED,
        (Order.Status.REFUNDED, Job.Status.REFUNDED),
        lambda args: {"customer_amount": int(args["amount"])},
        effect=_closes_licence("refunded"),
    ),
)

for _step in ESCROW_STEPS:
    event_handler("AuctionHouse", _step.event, revert=_step.revert)(_step.apply)


def payout_unrecord(event: ChainEvent) -> None:
    Payout.objects.filter(event=event).delete()


@event_handler("AuctionHouse", "Withdrawn", revert=payout_unrecord)
def payout_record(event: ChainEvent) -> None:
    """Money left the AuctionHouse for a shop, a customer or the treasury."""
    account = event.args["account"]
    shop = PrintShopProfile.objects.filter(eth_address=account).select_related("organization")
    wallet = CustomerWallet.objects.filter(address=account).select_related("organization")
    owner = shop.first() or wallet.first()
    Payout.objects.create(
        account=account,
        organization=owner.organization if owner is not None else None,
        amount=int(event.args["amount"]),
        event=event,
    )
