"""Reads, always scoped to the requester (STYLE.md rules 1 and 7)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone
from requests.exceptions import RequestException
from web3.exceptions import Web3Exception

from config.errors import DomainError
from ledger.chain import NodeUnreachable, request_web3_client
from ledger.contracts import AUCTION_HOUSE, SETTLEMENT_TOKEN, ContractNotDeployed, contract
from ledger.models import ChainEvent, ChainTx, RecordLeaf
from marketplace.models import (
    CustomerWallet,
    DesignFile,
    Job,
    Order,
    Organization,
    Payout,
    User,
)
from printshops.models import Bid, DesignRelease, Licence, PrintTicket
from printshops.track_record import TrackRecord, shop_track_records

T = TypeVar("T")


def job_list_for_user(
    *, user: User, status: str = "", process: str = "", query: str = ""
) -> QuerySet[Job]:
    organization = user.organization
    if organization is None or not organization.is_customer:
        return Job.objects.none()
    jobs = (
        Job.objects.filter(organization=organization)
        .annotate(file_count=Count("files"))
        .order_by("-created_at", "-id")
    )
    if status:
        jobs = jobs.filter(status=status)
    if process:
        jobs = jobs.filter(process=process)
    if query:
        jobs = jobs.filter(title__icontains=query)
    return jobs


def job_get_for_user(*, user: User, job_id: int) -> Job:
    """The customer's own job, or 404 (never 403: another party's job does not exist for you)."""
    organization = user.organization
    job = (
        Job.objects.filter(pk=job_id, organization=organization)
        .select_related("organization")
        .first()
        if organization is not None and organization.is_customer
        else None
    )
    if job is None:
        raise Http404("No such job.")
    return job


def design_file_get_for_user(*, user: User, job_id: int, file_id: uuid.UUID) -> DesignFile:
    job = job_get_for_user(user=user, job_id=job_id)
    design_file = DesignFile.objects.filter(job=job, pk=file_id).select_related("job").first()
    if design_file is None:
        raise Http404("No such file.")
    return design_file


def design_file_list_for_job(*, job: Job) -> QuerySet[DesignFile]:
    """A job's files (the caller has checked access to the job) with their registrations."""
    return job.files.select_related("registration")


def job_list_open() -> QuerySet[Job]:
    """Jobs shops may bid on now: published, and their bidding deadline not yet passed."""
    return Job.objects.filter(
        status=Job.Status.OPEN, commit_deadline__gt=timezone.now()
    ).prefetch_related("files")


# --- bids, orders and money -----------------------------------------------------------------------

ESCROW_EVENTS = (
    "AuctionFinalized",
    "EscrowFunded",
    "DeliveryRecorded",
    "EscrowReleased",
    "EscrowDisputed",
    "DisputeResolved",
    "EscrowRefunded",
)


@dataclass(frozen=True)
class RankedBid:
    rank: int
    shop: str
    price: int
    lead_time_days: int
    # The bidder's track record (printshops/track_record.py): deliveries, quality, disputes.
    record: TrackRecord
    bid: Bid


def job_bids_ranked(*, job: Job) -> list[RankedBid] | None:
    """The job's revealed bids, best first (price, then lead time, then the shop's record), from
    their final BidRevealed events; None before the reveal deadline, when no price may be seen.
    The bidders' track records take a constant number of queries, whatever their number."""
    if timezone.now() < job.reveal_deadline:
        return None
    bids = list(
        Bid.objects.filter(job=job, reveal_event__isnull=False)
        .select_related("organization__shop_profile")
        .order_by("price", "lead_time_days", "created_at")
    )
    records = shop_track_records(bid.organization_id for bid in bids)
    bids.sort(
        key=lambda bid: (
            bid.price or 0,
            bid.lead_time_days or 0,
            -records[bid.organization_id].orders_completed,
            records[bid.organization_id].disputes_opened,
            bid.created_at,
        )
    )
    return [
        RankedBid(
            rank=rank,
            shop=bid.organization.name,
            price=int(bid.price or 0),
            lead_time_days=bid.lead_time_days or 0,
            record=records[bid.organization_id],
            bid=bid,
        )
        for rank, bid in enumerate(bids, start=1)
    ]


def job_money_trail(*, job: Job) -> QuerySet[ChainEvent]:
    """The final chain events of the job's auction and escrow, oldest first."""
    return ChainEvent.objects.filter(
        contract="AuctionHouse",
        name__in=ESCROW_EVENTS,
        args__jobId=str(job.pk),
        applied=True,
        removed=False,
    ).order_by("block_number", "log_index")


def job_chain_actions(*, job: Job) -> QuerySet[ChainTx]:
    """The escrow calls asked for this job, newest first, so a page can say what is on its way."""
    return ChainTx.objects.filter(
        idempotency_key__regex=rf"^escrow\.[a-z_]+:job:{job.pk}(#\d+)?$"
    ).order_by("-id")


def order_list_for_shop(*, user: User) -> QuerySet[Order]:
    organization = user.organization
    if organization is None or not organization.is_print_shop:
        return Order.objects.none()
    return Order.objects.filter(shop=organization).select_related("job")


def payouts_for_organization(*, organization: Organization) -> QuerySet[Payout]:
    return Payout.objects.filter(organization=organization).select_related("event")


# --- wallets and balances on chain ----------------------------------------------------------------


def customer_wallet_get(*, organization: Organization) -> CustomerWallet | None:
    """The organisation's wallet as it stands; None until the first action that needs one makes
    it (services.customer_wallet_for): a page that only reads never creates it."""
    return CustomerWallet.objects.filter(organization=organization).first()


def paying_address_changeable(*, organization: Organization) -> bool:
    """Whether the organisation may still change the address it pays escrow from: auctions name
    the paying address on chain, so only until its first job is published."""
    return not Job.objects.filter(organization=organization, auction_tx__isnull=False).exists()


def chain_read(read: Callable[[], T]) -> T:
    """A read from the chain while someone waits, with a clear 503 when the node cannot answer
    (Retry-After: when it will be asked again). Callers make it before their transaction, never
    inside one: no lock is held while the node is asked (STYLE.md 8a)."""
    try:
        return read()
    except ContractNotDeployed as exc:
        raise DomainError(str(exc), code="chain_not_ready", status=503, retry_after=30) from None
    except NodeUnreachable as exc:
        raise DomainError(
            "The ledger is not reachable just now; try again shortly.",
            code="chain_unavailable",
            status=503,
            retry_after=exc.retry_after,
        ) from None
    except (RequestException, Web3Exception, OSError) as exc:
        raise DomainError(
            f"The chain node did not answer ({type(exc).__name__}); try again shortly.",
            code="chain_unavailable",
            status=503,
            retry_after=settings.CHAIN_UNREACHABLE_BACKOFF,
        ) from None


def token_balance(address: str) -> int:
    """What `address` holds of the settlement token, at the latest block."""
    w3 = request_web3_client()
    return chain_read(
        lambda: int(contract(w3, SETTLEMENT_TOKEN).functions.balanceOf(address).call())
    )


def pending_withdrawal(address: str) -> int:
    """What the AuctionHouse holds for `address` to withdraw (refunds, payouts), at the latest
    block."""
    w3 = request_web3_client()
    house = chain_read(lambda: contract(w3, AUCTION_HOUSE))
    return chain_read(lambda: int(house.functions.pendingWithdrawal(address).call()))


def payout_state(*, organization: Organization) -> dict[str, object]:
    """A shop's balance on the AuctionHouse, its withdrawal nonce and its payouts so far."""
    profile = getattr(organization, "shop_profile", None)
    address = profile.eth_address if profile is not None else ""
    if not address:
        raise DomainError(
            "Register the shop's Ethereum address first (PUT /api/v1/shop/keys/).",
            code="no_shop_key",
            status=409,
        )
    w3 = request_web3_client()
    house = chain_read(lambda: contract(w3, AUCTION_HOUSE))
    return {
        "address": address,
        "pending": str(chain_read(lambda: int(house.functions.pendingWithdrawal(address).call()))),
        "nonce": chain_read(lambda: int(house.functions.nonces(address).call())),
        "payouts": payouts_for_organization(organization=organization),
    }


@dataclass(frozen=True)
class DesignRegistration:
    """One owner's final registration of a design hash on DesignRegistry."""

    owner_ref: str
    registered_at: datetime
    block_number: int
    tx_hash: str
    # The organisation behind the opaque reference: only for its own members and operators.
    owner: Organization | None


@dataclass(frozen=True)
class DesignProof:
    """A design's proof of existence as one viewer may see it: its final DesignRegistered
    events, earliest first."""

    sha256: str
    chain_id: int
    registry: str
    registrations: list[DesignRegistration]
    # The viewer's organisation holds (one of) these registrations: only its own is listed.
    yours: bool

    @property
    def first(self) -> DesignRegistration:
        return self.registrations[0]


def design_proof(*, sha256: str, viewer: User | AnonymousUser) -> DesignProof:
    """The proof of existence of the design with this plaintext SHA-256 (hex); 404 unless a
    registration is final. An organisation that registered the file sees its own registration
    only, with its name; anyone else sees every registration by its opaque owner reference
    alone (what the chain shows), and operators also see the names behind them."""
    sha256 = sha256.lower()
    events = list(
        ChainEvent.objects.filter(
            contract="DesignRegistry",
            name="DesignRegistered",
            args__designHash="0x" + sha256,
            applied=True,
            removed=False,
        ).order_by("block_number", "log_index")
    )
    own: Organization | None = getattr(viewer, "organization", None)
    mine = [e for e in events if own is not None and e.args["ownerRef"] == own.owner_ref]
    names: dict[str, Organization] = {}
    if own is not None and mine:
        events, names = mine, {own.owner_ref: own}
    elif viewer.is_staff:
        refs = {e.args["ownerRef"] for e in events}
        names = {o.owner_ref: o for o in Organization.objects.filter(owner_ref__in=refs)}
    if not events:
        raise Http404("No final registration of this design hash.")
    return DesignProof(
        sha256=sha256,
        chain_id=events[0].chain_id,
        registry=events[0].address,
        registrations=[
            DesignRegistration(
                owner_ref=event.args["ownerRef"],
                registered_at=datetime.fromtimestamp(int(event.args["timestamp"]), tz=UTC),
                block_number=event.block_number,
                tx_hash=event.tx_hash,
                owner=names.get(event.args["ownerRef"]),
            )
            for event in events
        ],
        yours=bool(mine),
    )


@dataclass(frozen=True)
class TicketRow:
    ticket: PrintTicket
    # The anchoring transaction of the ticket's record, once its batch is sealed.
    anchor: ChainTx | None


@dataclass(frozen=True)
class LicenceView:
    """What the customer sees of the design release: the licence, its releases and tickets."""

    licence: Licence
    releases: list[DesignRelease]
    tickets: list[TicketRow]

    @property
    def percent_taken(self) -> int:
        return round(100 * self.licence.prints_taken / max(self.licence.prints_allowed, 1))


def job_licence(*, job: Job) -> LicenceView | None:
    """The licence of the job's order, with every ticket and its anchoring state; None before
    the escrow is funded."""
    licence = (
        Licence.objects.filter(order__job=job).select_related("organization", "issue_tx").first()
    )
    if licence is None:
        return None
    tickets = list(licence.tickets.order_by("number"))
    leaves = {
        leaf.record_id: leaf
        for leaf in RecordLeaf.objects.filter(
            kind="print_ticket", record_id__in=[str(t.pk) for t in tickets]
        ).select_related("batch__chain_tx")
    }
    rows = []
    for ticket in tickets:
        leaf = leaves.get(str(ticket.pk))
        batch = leaf.batch if leaf is not None else None
        rows.append(TicketRow(ticket=ticket, anchor=batch.chain_tx if batch is not None else None))
    return LicenceView(
        licence=licence,
        releases=list(licence.releases.select_related("design_file")),
        tickets=rows,
    )
