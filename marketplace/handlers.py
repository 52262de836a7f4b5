"""What the ledger's events mean to the marketplace (ledger/handlers.py dispatches them): design
registrations, failed auctions and the escrow's steps. Awards, bids and payouts, which concern a
shop, are printshops' (printshops/handlers.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace import selectors
from marketplace.models import AuditEvent, DesignFile, Job, Order
from marketplace.services import audit_record
from marketplace.signals import order_moved

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

    def apply(self, event: ChainEvent) -> None:
        order = Order.objects.select_for_update().filter(job_id=int(event.args["jobId"])).first()
        if order is None:
            logger.warning("%s for job %s, which has no order here", self.event, event.args)
            return
        self._set(order, self.after, event, self.fields(event.args))
        audit_record(actor=None, verb=f"order.{order.status}", target=order, chain_event=event.pk)
        order_moved.send(sender=Order, order=order, event=self.event, reverted=False)

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


ESCROW_STEPS = (
    # What else a step does (the designs released under a licence when funded, the licence
    # closed and certificates issued when accepted, ...) is printshops' (order_moved).
    EscrowStep("EscrowFunded", _AWARDED, _FUNDED),
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
    ),
    EscrowStep(
        "EscrowRefunded",
        _FUNDED,
        (Order.Status.REFUNDED, Job.Status.REFUNDED),
        lambda args: {"customer_amount": int(args["amount"])},
    ),
)

for _step in ESCROW_STEPS:
    event_handler("AuctionHouse", _step.event, revert=_step.revert)(_step.apply)
