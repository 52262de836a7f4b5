"""What the ledger's events mean to the marketplace (ledger/handlers.py dispatches them)."""

from __future__ import annotations

import logging

from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace.models import AuditEvent, DesignFile, Job, Order
from marketplace.services import audit_record
from printshops.models import PrintShopProfile

logger = logging.getLogger(__name__)

REGISTRATION_FINAL = "design_file.registration_final"


def design_registration_unconfirm(event: ChainEvent) -> None:
    """A reorg took the registration away: what `design_registration_confirm` recorded about it
    was never true of the final chain."""
    AuditEvent.objects.filter(verb=REGISTRATION_FINAL, data__chain_event=event.pk).delete()


@event_handler("DesignRegistry", "DesignRegistered", revert=design_registration_unconfirm)
def design_registration_confirm(event: ChainEvent) -> None:
    """Records, on every design file with the registered hash, that its proof of existence is
    final on chain, and whether our own registration made it. Anyone with the registrar role
    can call the contract directly, so the hash may have been registered by someone else first;
    our registration then fails, and this record says who was first."""
    sha256 = event.args["designHash"].removeprefix("0x")
    files = DesignFile.objects.filter(sha256=sha256).select_related("registration")
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
