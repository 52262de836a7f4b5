"""What the ledger's events mean to print shops (ledger/handlers.py dispatches them): the award
that makes a job a shop's order, sealed bids made or revealed on chain, and payouts. The escrow's
steps are marketplace's (marketplace/handlers.py); what follows from them for a shop (licences,
certificates) is in printshops/receivers.py."""

from __future__ import annotations

import logging

from ledger.events import AuctionFinalized, BidCommitted, BidRevealed, Withdrawn
from ledger.handlers import event_handler
from ledger.models import ChainEvent
from marketplace import notifications
from marketplace.models import CustomerWallet, Job, Order, Organization, Payout
from marketplace.services import audit_record
from printshops.models import Bid, PrintShopProfile

logger = logging.getLogger(__name__)


# --- the award ------------------------------------------------------------------------------


def _awarded_fields(
    args: AuctionFinalized, event: ChainEvent, shop: Organization
) -> dict[str, object]:
    return {
        "shop": shop,
        "shop_address": args.winner,
        "price": args.price,
        "lead_time_days": args.lead_time_days,
        "funding_deadline": args.funding_deadline,
        "award_event": event,
    }


def order_unaward(event: ChainEvent, args: AuctionFinalized) -> None:
    """A reorg took the award away: the job waits for the award on the final chain, or, when
    the award had passed to the runner-up, the order goes back to the expired award before."""
    order = Order.objects.filter(job_id=args.job_id, award_event=event).first()
    if order is None:
        return
    earlier = (
        ChainEvent.objects.filter(
            contract="AuctionHouse",
            name="AuctionFinalized",
            args__jobId=str(args.job_id),
            applied=True,
            removed=False,
        )
        .exclude(pk=event.pk)
        .order_by("-block_number", "-log_index")
        .first()
    )
    profile = None
    if earlier is not None:
        profile = (
            PrintShopProfile.objects.filter(eth_address=earlier.args["winner"])
            .select_related("organization")
            .first()
        )
    if earlier is None or profile is None:
        order.delete()
        Job.objects.filter(pk=args.job_id, status=Job.Status.AWARDED).update(status=Job.Status.OPEN)
        return
    before = AuctionFinalized.from_event(earlier)
    for name, value in _awarded_fields(before, earlier, profile.organization).items():
        setattr(order, name, value)
    order.status, order.expired_shop = Order.Status.EXPIRED, None
    order.save()
    Job.objects.filter(pk=args.job_id).update(status=Job.Status.FAILED)


@event_handler(AuctionFinalized, revert=order_unaward)
def order_award(event: ChainEvent, args: AuctionFinalized) -> None:
    """The auction picked its winner: the job becomes an order with the winning shop, to be
    funded by the funding deadline. An award passed on to the runner-up (after the winner's
    expired unfunded) moves the expired order to the runner-up."""
    job = Job.objects.select_for_update().filter(pk=args.job_id).first()
    shop = PrintShopProfile.objects.filter(eth_address=args.winner).select_related("organization")
    profile = shop.first()
    if job is None or profile is None:
        logger.warning(
            "AuctionFinalized for job %s / shop %s unknown here", args.job_id, args.winner
        )
        return
    fields = _awarded_fields(args, event, profile.organization)
    order = Order.objects.filter(job=job, status=Order.Status.EXPIRED).first()
    if order is None:
        order = Order.objects.create(job=job, **fields)
        verb = "job.awarded"
    else:
        order.expired_shop = order.shop
        for name, value in fields.items():
            setattr(order, name, value)
        # last_event stays the AwardExpired before it, which a reorg would undo after this.
        order.status = Order.Status.AWARDED
        order.save()
        verb = "job.award_passed_to_runner_up"
    job.status = Job.Status.AWARDED
    job.save(update_fields=["status", "updated_at"])
    audit_record(actor=None, verb=verb, target=order, job=job.pk, shop=args.winner)
    bidders = Organization.objects.filter(bids__job=job).distinct()
    notifications.auction_ended(job, order, list(bidders))


# --- sealed bids made or revealed on chain --------------------------------------------------


@event_handler(BidCommitted)
def bid_commit_record(event: ChainEvent, args: BidCommitted) -> None:
    """A commitment made directly on chain (a shop may call the contract itself) becomes the
    shop's bid here too; one relayed from the API is already here. No revert: on a reorg the
    newer version of the final chain arrives as its own event."""
    job = Job.objects.filter(pk=args.job_id).first()
    profile = PrintShopProfile.objects.filter(eth_address=args.shop).first()
    if job is None or profile is None:
        logger.info("BidCommitted for job %s by %s unknown here", args.job_id, args.shop)
        return
    bid = Bid.objects.select_for_update().filter(job=job, organization=profile.organization).first()
    if bid is None:
        Bid.objects.create(
            job=job,
            organization=profile.organization,
            shop_address=args.shop,
            commitment=args.commitment,
            version=args.version,
            signature=b"",
        )
        audit_record(actor=None, verb="bid.committed_on_chain", target=job, shop=args.shop)
    elif args.version > bid.version:
        bid.commitment, bid.version, bid.shop_address = args.commitment, args.version, args.shop
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


def bid_reveal_unconfirm(event: ChainEvent, args: BidRevealed) -> None:
    Bid.objects.filter(reveal_event=event).update(reveal_event=None)


@event_handler(BidRevealed, revert=bid_reveal_unconfirm)
def bid_reveal_confirm(event: ChainEvent, args: BidRevealed) -> None:
    """The revealed price is final on chain: the customer's ranking shows it (after the reveal
    deadline), whoever sent the reveal."""
    profile = PrintShopProfile.objects.filter(eth_address=args.shop).first()
    if profile is None:
        return
    Bid.objects.filter(job_id=args.job_id, organization=profile.organization).update(
        status=Bid.Status.REVEALED,
        price=args.price,
        lead_time_days=args.lead_time_days,
        reveal_event=event,
    )


# --- payouts --------------------------------------------------------------------------------


def payout_unrecord(event: ChainEvent, args: Withdrawn) -> None:
    Payout.objects.filter(event=event).delete()


@event_handler(Withdrawn, revert=payout_unrecord)
def payout_record(event: ChainEvent, args: Withdrawn) -> None:
    """Money left the AuctionHouse for a shop, a customer or the treasury."""
    shop = PrintShopProfile.objects.filter(eth_address=args.account).select_related("organization")
    wallet = CustomerWallet.objects.filter(address=args.account).select_related("organization")
    owner = shop.first() or wallet.first()
    Payout.objects.create(
        account=args.account,
        organization=owner.organization if owner is not None else None,
        amount=args.amount,
        event=event,
    )
