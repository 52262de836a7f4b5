"""Reads, always scoped to the requester (STYLE.md rules 1 and 7)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from requests.exceptions import RequestException
from web3.exceptions import Web3Exception

from config.errors import DomainError
from ledger.chain import NodeUnreachable, request_web3_client
from ledger.contracts import AUCTION_HOUSE, SETTLEMENT_TOKEN, ContractNotDeployed, contract
from ledger.events import DesignRegistered
from ledger.models import ChainEvent, ChainTx
from marketplace.models import (
    CustomerWallet,
    DesignFile,
    Job,
    Order,
    Organization,
    Payout,
    User,
)

T = TypeVar("T")


def job_list_for_user(
    *, user: User, status: str = "", process: str = "", query: str = ""
) -> QuerySet[Job]:
    organization = user.organization
    if organization is None or not organization.is_customer:
        return Job.objects.none()
    # Counted for the rows of the page alone (a join counted every job's files, then sorted).
    files = DesignFile.objects.filter(job=OuterRef("pk")).order_by().values("job")
    jobs = (
        Job.objects.filter(organization=organization)
        .annotate(file_count=Coalesce(Subquery(files.annotate(n=Count("pk")).values("n")), 0))
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
    "AuctionCancelled",
    "AwardExpired",
    "EscrowFunded",
    "DeliveryRecorded",
    "EscrowReleased",
    "EscrowDisputed",
    "DisputeResolved",
    "EscrowRefunded",
)


def job_money_trail(*, job: Job) -> QuerySet[ChainEvent]:
    """The final chain events of the job's auction and escrow, oldest first."""
    return ChainEvent.objects.filter(
        contract="AuctionHouse",
        name__in=ESCROW_EVENTS,
        args__jobId=str(job.pk),
        applied=True,
        removed=False,
    ).order_by("block_number", "log_index")


#: The escrow's calls on a job, by the verb of their idempotency keys (`escrow_call_key`).
ESCROW_VERBS = (
    "approve",
    "fund",
    "accept",
    "refund",
    "dispute",
    "delivered",
    "resolve",
    "auto_release",
)


def faucet_key(address: str) -> str:
    """The idempotency key of the faucet's mints to `address`, before its "#n" (one in flight at
    a time: services.wallets): the wallet's money history finds the mints by it."""
    return f"faucet:{address}"


def escrow_call_key(verb: str, job_id: int) -> str:
    """The idempotency key of an escrow call on a job (a retry's gets "#2", "#3"...: see
    ledger.services.outbox.action_idempotency_key). Every escrow call takes its key from here:
    the job's page finds its calls by these keys."""
    if verb not in ESCROW_VERBS:
        raise ValueError(f"{verb!r} is not one of the escrow's verbs (ESCROW_VERBS)")
    return f"escrow.{verb}:job:{job_id}"


def job_chain_actions(*, job: Job) -> QuerySet[ChainTx]:
    """The escrow calls asked for this job, newest first, so a page can say what is on its way.
    Found by their keys and their retries' (an index lookup each), whatever the outbox holds."""
    keys = [escrow_call_key(verb, job.pk) for verb in ESCROW_VERBS]
    retries = reduce(or_, (Q(idempotency_key__startswith=f"{key}#") for key in keys))
    return ChainTx.objects.filter(Q(idempotency_key__in=keys) | retries).order_by("-id")


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
    registered = [(event, DesignRegistered.from_event(event)) for event in events]
    own: Organization | None = getattr(viewer, "organization", None)
    mine = [(e, a) for e, a in registered if own is not None and a.owner_ref == own.owner_ref]
    names: dict[str, Organization] = {}
    if own is not None and mine:
        registered, names = mine, {own.owner_ref: own}
    elif viewer.is_staff:
        refs = {args.owner_ref for _, args in registered}
        names = {o.owner_ref: o for o in Organization.objects.filter(owner_ref__in=refs)}
    if not registered:
        raise Http404("No final registration of this design hash.")
    return DesignProof(
        sha256=sha256,
        chain_id=registered[0][0].chain_id,
        registry=registered[0][0].address,
        registrations=[
            DesignRegistration(
                owner_ref=args.owner_ref,
                registered_at=args.timestamp,
                block_number=event.block_number,
                tx_hash=event.tx_hash,
                owner=names.get(args.owner_ref),
            )
            for event, args in registered
        ],
        yours=bool(mine),
    )
