"""What the ledger's events mean to the marketplace (ledger/handlers.py dispatches them): design
registrations, failed auctions and the escrow's steps. Awards, bids and payouts, which concern a
shop, are printshops' (printshops/handlers.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Q
from django.utils import timezone

from ledger.events import (
    AuctionCancelled,
    AuctionFailed,
    AwardExpired,
    DeliveryRecorded,
    DesignRegistered,
    DisputeResolved,
    EscrowDisputed,
    EscrowFunded,
    EscrowRefunded,
    EscrowReleased,
    JobEvent,
)
from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace import notifications, selectors
from marketplace.models import AuditEvent, DesignFile, Job, Order
from marketplace.services import audit_record
from marketplace.signals import order_moved

logger = logging.getLogger(__name__)

REGISTRATION_FINAL = "design_file.registration_final"


def design_registration_unconfirm(event: ChainEvent, args: DesignRegistered) -> None:
    """A reorg took the registration away: what `design_registration_confirm` recorded about it
    was never true of the final chain."""
    AuditEvent.objects.filter(verb=REGISTRATION_FINAL, data__chain_event=event.pk).delete()


@event_handler(DesignRegistered, revert=design_registration_unconfirm)
def design_registration_confirm(event: ChainEvent, args: DesignRegistered) -> None:
    """Records, on every design file with the registered hash whose organisation the owner
    reference names, that its proof of existence is final on chain, and whether our own
    registration made it. Anyone with the registrar role can call the contract directly, so the
    pair may have been registered by someone else first; our registration then fails, and this
    record says who was first. Other organisations' files of the same hash are not concerned:
    each has its own registration."""
    # Our registrations register a file's SHA-256 as its design hash.
    sha256 = args.design_hash.removeprefix("0x")
    files = DesignFile.objects.filter(
        sha256=sha256, job__organization__owner_ref=args.owner_ref
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
            owner_ref=args.owner_ref,
            ours=ours,
        )


def auction_unfail(event: ChainEvent, args: AuctionFailed) -> None:
    Job.objects.filter(pk=args.job_id, status=Job.Status.FAILED).update(status=Job.Status.OPEN)


@event_handler(AuctionFailed, revert=auction_unfail)
def auction_fail(event: ChainEvent, args: AuctionFailed) -> None:
    """No valid bid under the reserve: the job failed, and its customer is told (the job page
    and the audit trail say so)."""
    job = Job.objects.filter(pk=args.job_id).first()
    if job is None:
        return
    job.status = Job.Status.FAILED
    job.save(update_fields=["status", "updated_at"])
    audit_record(actor=None, verb="job.auction_failed", target=job)
    if not Order.objects.filter(job=job).exists():  # (an expired award's customer was told)
        notifications.auction_ended(job, None, [])


def auction_uncancel(event: ChainEvent, args: AuctionCancelled) -> None:
    """A reorg took the cancel away: the job and its order are as before it."""
    Order.objects.filter(job_id=args.job_id, status=Order.Status.CANCELLED).update(
        status=Order.Status.AWARDED
    )
    awarded = Order.objects.filter(job_id=args.job_id).exists()
    Job.objects.filter(pk=args.job_id, status=Job.Status.CANCELLED).update(
        status=Job.Status.AWARDED if awarded else Job.Status.CANCELLING, cancelled_at=None
    )


@event_handler(AuctionCancelled, revert=auction_uncancel)
def auction_cancel(event: ChainEvent, args: AuctionCancelled) -> None:
    """The auction was cancelled on chain: by its customer before any bid, or by the operator
    (with the hash of its reason) before funding. The job is cancelled, and an unfunded award
    with it."""
    job = Job.objects.select_for_update().filter(pk=args.job_id).first()
    if job is None:
        return
    Order.objects.filter(job=job, status=Order.Status.AWARDED).update(
        status=Order.Status.CANCELLED, last_event=event
    )
    job.status = Job.Status.CANCELLED
    job.cancelled_at = timezone.now()
    job.save(update_fields=["status", "cancelled_at", "updated_at"])
    audit_record(actor=None, verb="job.cancelled", target=job, by=args.by, reason=args.reason_hash)


# --- escrow ---------------------------------------------------------------------------------
# Each escrow event moves the order (and its job) one step of the contract's state machine; on a
# reorg its revert moves them back to the state before, which the state machine makes unique.

J = TypeVar("J", bound=JobEvent)


def _no_fields(args: JobEvent) -> dict[str, object]:
    return {}


@dataclass(frozen=True)
class EscrowStep(Generic[J]):
    payload: type[J]
    # (order state, job state) before and after the event
    before: tuple[str, str]
    after: tuple[str, str]
    # The order's fields the event sets, from its arguments (cleared again on a revert).
    fields: Callable[[J], dict[str, object]] = _no_fields

    @property
    def event(self) -> str:
        return self.payload.event

    def apply(self, event: ChainEvent, args: J) -> None:
        order = Order.objects.select_for_update().filter(job_id=args.job_id).first()
        if order is None:
            logger.warning("%s for job %s, which has no order here", self.event, args.job_id)
            return
        self._set(order, self.after, event, self.fields(args))
        audit_record(actor=None, verb=f"order.{order.status}", target=order, chain_event=event.pk)
        order_moved.send(sender=Order, order=order, event=self.event, reverted=False)
        notifications.escrow_moved(order, self.event)

    def revert(self, event: ChainEvent, args: J) -> None:
        order = Order.objects.filter(job_id=args.job_id, last_event=event).first()
        if order is None:
            return
        # The event before this one on the chain (later ones are being undone first).
        earlier = (
            selectors.job_money_trail(job=order.job)
            .filter(
                Q(block_number__lt=event.block_number)
                | Q(block_number=event.block_number, log_index__lt=event.log_index)
            )
            .order_by("-block_number", "-log_index")
            .first()
        )
        cleared = dict.fromkeys(self.fields(args))
        # Back to the state the event before left it in: a refund follows a funding or, when
        # the delivery was late, a delivery.
        before = _STATE_AFTER.get(earlier.name, self.before) if earlier is not None else self.before
        self._set(order, before, earlier, cleared)
        audit_record(actor=None, verb="order.reorged", target=order, chain_event=event.pk)
        order_moved.send(sender=Order, order=order, event=self.event, reverted=True)

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
# The state each escrow event leaves an order in, where another event may follow it.
_STATE_AFTER = {
    "EscrowFunded": _FUNDED,
    "DeliveryRecorded": _DELIVERED,
    "EscrowDisputed": _DISPUTED,
}


ESCROW_STEPS: tuple[EscrowStep[Any], ...] = (
    # What else a step does (the designs released under a licence when funded, the licence
    # closed and certificates issued when accepted, ...) is printshops' (order_moved).
    EscrowStep(
        EscrowFunded, _AWARDED, _FUNDED, lambda args: {"delivery_deadline": args.delivery_deadline}
    ),
    # Not funded in time: the job fails (AuctionFailed follows), or its award passes to the
    # runner-up (AuctionFinalized follows; printshops/handlers.py moves the order to it).
    EscrowStep(AwardExpired, _AWARDED, (Order.Status.EXPIRED, Job.Status.FAILED)),
    EscrowStep(
        DeliveryRecorded,
        _FUNDED,
        _DELIVERED,
        lambda args: {"delivered_at": args.delivered_at, "claim_deadline": args.claim_deadline},
    ),
    EscrowStep(
        EscrowReleased,
        _DELIVERED,
        (Order.Status.RELEASED, Job.Status.ACCEPTED),
        lambda args: {"shop_amount": args.shop_amount, "fee": args.fee},
    ),
    EscrowStep(EscrowDisputed, _DELIVERED, _DISPUTED),
    EscrowStep(
        DisputeResolved,
        _DISPUTED,
        (Order.Status.RESOLVED, Job.Status.RESOLVED),
        # The event's shopAmount is before the fee; the order keeps what the shop is paid.
        lambda args: {
            "shop_amount": args.shop_amount - args.fee,
            "fee": args.fee,
            "customer_amount": args.customer_amount,
        },
    ),
    EscrowStep(
        EscrowRefunded,
        _FUNDED,
        (Order.Status.REFUNDED, Job.Status.REFUNDED),
        lambda args: {"customer_amount": args.amount},
    ),
)

for _step in ESCROW_STEPS:
    event_handler(_step.payload, revert=_step.revert)(_step.apply)
