"""Writes for sealed bids: commit (relayed to the AuctionHouse) and reveal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError
from config.queries import Prepared, together
from ledger.chain import chain_config
from ledger.contracts import AUCTION_HOUSE, deployed_address
from ledger.services.outbox import ChainCall, chaintx_enqueue, chaintx_enqueue_many
from marketplace.catalog import Certification, Material, Process
from marketplace.models import Job, User
from marketplace.services.audit import AuditEntry, audit_record, audit_records_add
from printfair.eip712 import BIDS_PER_REQUEST, BidError, verify_sealed_bid_signature
from printfair.eip712 import Bid as SealedBid
from printshops.models import Bid, PrintShopProfile
from printshops.services.bid_rows import BID_REPLACED, bid_rows_store
from printshops.services.shops import require_shop

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


# The job's fields bid_eligibility_problems reads.
BID_ELIGIBILITY_FIELDS = (
    "process",
    "material",
    "required_certifications",
    "envelope_a_mm",
    "envelope_b_mm",
    "envelope_c_mm",
)
# The job's fields a bid reads: its checks, and the answer (printshops.apis.bids.BidOutput).
BID_JOB_FIELDS = (
    "status",
    "title",
    "commit_deadline",
    "reveal_deadline",
    "auction_tx",
    *BID_ELIGIBILITY_FIELDS,
)


def bid_eligibility_problems(*, profile: PrintShopProfile, job: Job) -> list[str]:
    """Why this shop may not bid on this job (empty when it may)."""
    problems = []
    if job.process not in profile.processes:
        problems.append(f"your shop does not offer {Process(job.process).label}")
    if job.material not in profile.materials:
        problems.append(f"your shop does not print {Material(job.material).label}")
    missing = set(job.required_certifications) - set(profile.certifications)
    if missing:
        labels = ", ".join(sorted(Certification(c).label for c in missing))
        problems.append(f"the job requires {labels}")
    envelope = job.envelope_mm
    build = sorted((profile.build_x_mm, profile.build_y_mm, profile.build_z_mm), reverse=True)
    if envelope is not None and any(e > b for e, b in zip(envelope, build, strict=True)):
        problems.append(
            "its largest part ({:.0f} × {:.0f} × {:.0f} mm) does not fit your build volume".format(
                *envelope
            )
        )
    return problems


@dataclass(frozen=True)
class BidCommit:
    """A sealed bid as a shop sends it: its commitment to the job, version and signature."""

    job_id: int
    commitment: bytes
    version: int
    signature: bytes


def bid_commit(
    *, actor: User, job_id: int, commitment: bytes, version: int, signature: bytes
) -> Bid:
    """Accept a sealed bid signed by the shop's own key, and relay it to the AuctionHouse. A
    newer version replaces the shop's bid until the bidding deadline."""
    (result,) = bids_commit(actor=actor, bids=[BidCommit(job_id, commitment, version, signature)])
    if isinstance(result, DomainError):
        raise result
    return result


class _Bidding(TypedDict):
    """What `bids_commit` reads with each job: where its signatures are checked (None: the
    AuctionHouse is not deployed)."""

    auction_house: str | None


@transaction.atomic
def bids_commit(*, actor: User, bids: Sequence[BidCommit]) -> list[Bid | DomainError]:
    """Several sealed bids of one shop, each accepted (its Bid) or refused (why) on its own,
    in the order given. A refusal that concerns the shop (not verified, no keys) refuses the
    whole request.

    However many bids there are, this reads and writes in a fixed number of statements: the
    jobs, locked, with the AuctionHouse's address, and the shop's current versions (one round
    trip on PostgreSQL); then the accepted bids' rows (`_store`: one statement on PostgreSQL,
    four through the ORM)."""
    profile = require_shop(actor)
    if not profile.is_verified:
        raise DomainError("Only verified shops bid.", code="not_verified", status=403)
    if not profile.eth_address:
        raise DomainError(
            "Register your shop's keys before bidding (PUT /api/v1/shop/keys/).",
            code="no_keys",
            status=409,
        )
    if len(bids) > BIDS_PER_REQUEST:
        raise DomainError(
            f"Send at most {BIDS_PER_REQUEST} bids in one request.", code="too_many_bids"
        )
    chain_id = chain_config().chain_id
    # Locking the jobs serialises bids on each: versions and the one-bid rule hold under load.
    # In one order, so that two requests locking the same jobs cannot deadlock.
    # The shop's versions are read once the locks are held, by a statement of their own sent
    # with the locking one (config.queries.together): a subquery of the locking statement would
    # see the bids as they were when it started, before the request it waited for committed.
    asked = sorted({given.job_id for given in bids})
    jobs, found = together(
        _BIDDING_JOBS.bind(chain=chain_id, jobs=asked),
        _VERSIONS.bind(jobs=asked, organization=profile.organization_id),
    )
    open_jobs: dict[int, WithAnnotations[Job, _Bidding]] = {job.pk: job for job in jobs}
    versions = dict(found)
    now = timezone.now()
    results: list[Bid | DomainError] = []
    seen: set[int] = set()
    for given in bids:
        try:
            if given.job_id in seen:
                raise DomainError(
                    f"This request already has a bid on job {given.job_id}: send one per job.",
                    code="duplicate_job",
                )
            seen.add(given.job_id)
            job = open_jobs.get(given.job_id)
            if job is None:
                raise DomainError("No open job with this id.", code="not_found", status=404)
            _check(profile, job, given, chain_id, now)
            current = versions.get(job.pk)
            if current is not None and given.version <= current:
                raise DomainError(
                    f"A bid with version {current} is already in; send a higher version.",
                    code="stale_version",
                    status=409,
                )
        except DomainError as refusal:
            results.append(refusal)
            continue
        results.append(_new_bid(profile, job, given))
    accepted = [bid for bid in results if isinstance(bid, Bid)]
    if accepted:
        _store(actor, accepted)
    return results


def _bidding_jobs(chain: int, jobs: list[int]) -> QuerySet[WithAnnotations[Job, _Bidding]]:
    """The open ones of `jobs`, which `bids_commit` locks, with the AuctionHouse's address."""
    return (
        Job.objects.select_for_update(of=("self",))
        .only(*BID_JOB_FIELDS)
        .annotate(auction_house=deployed_address(AUCTION_HOUSE, chain))
        .filter(pk__in=jobs, status=Job.Status.OPEN)
        .order_by("pk")
    )


def _versions(jobs: list[int], organization: int) -> QuerySet[Bid, tuple[int, int]]:
    """The shop's current version of its bid on each of `jobs` that has one."""
    return Bid.objects.filter(job__in=jobs, organization=organization).values_list(
        "job_id", "version"
    )


# Compiled once (config/queries.py): compiling them took about an eighth of a bid request.
_BIDDING_JOBS = Prepared(_bidding_jobs)
_VERSIONS = Prepared(_versions)


def _check(
    profile: PrintShopProfile,
    job: WithAnnotations[Job, _Bidding],
    given: BidCommit,
    chain_id: int,
    now: datetime,
) -> None:
    """Raise why the bid is refused, if it is, against the job as `bids_commit` read it."""
    if job.commit_deadline <= now:
        raise DomainError("Bidding on this job has closed.", code="bidding_closed", status=409)
    problems = bid_eligibility_problems(profile=profile, job=job)
    if problems:
        raise DomainError(
            "Your shop cannot bid on this job: " + "; ".join(problems) + ".",
            code="not_eligible",
            status=403,
        )
    if job.auction_house is None:
        raise DomainError(
            "Bidding is not open yet: the auction contract is not deployed.",
            code="chain_not_ready",
            status=503,
        )
    try:
        verify_sealed_bid_signature(
            given.signature,
            chain_id=chain_id,
            contract=job.auction_house,
            job_id=job.pk,
            shop=profile.eth_address,
            commitment=given.commitment,
            version=given.version,
        )
    except BidError as exc:
        raise DomainError(
            f"The bid's signature is not your shop's for this job: {exc}", code="bad_signature"
        ) from None


def _new_bid(profile: PrintShopProfile, job: Job, given: BidCommit) -> Bid:
    # While bidding is open a bid is committed, unrevealed: the row is the whole bid, whether it
    # is new or replaces the last version (the job's lock made that version current). Its
    # auction is running, so its outcome is pending (what bids_for_shop would read).
    bid = Bid(
        job=job,
        organization_id=profile.organization_id,
        shop_address=profile.eth_address,
        commitment="0x" + given.commitment.hex(),
        version=given.version,
        signature=given.signature,
    )
    bid.outcome = Bid.Outcome.PENDING  # type: ignore[attr-defined]
    return bid


def _store(actor: User, bids: list[Bid]) -> None:
    """The accepted bids' relays, rows and audit events: on PostgreSQL in one statement
    (printshops.services.bid_rows), elsewhere through the ORM."""
    # Relayed once the auction is on chain: a bid in the block after publishing (or after a
    # sender outage) would otherwise be measured before createAuction and refused for good.
    calls = [
        ChainCall(
            idempotency_key=f"bid.commit:{bid.job_id}:{bid.shop_address}:{bid.version}",
            contract="AuctionHouse",
            function="commitFor",
            args=[bid.job_id, bid.shop_address, bid.commitment, bid.version, _signature_hex(bid)],
            waits_for=bid.job.auction_tx_id,
        )
        for bid in bids
    ]
    events: list[AuditEntry] = [
        ("bid.committed", bid, {"job": bid.job_id, "version": bid.version}) for bid in bids
    ]
    if connection.vendor == "postgresql":
        bid_rows_store(actor, bids, calls, events)
        return
    for bid, relay in zip(bids, chaintx_enqueue_many(calls), strict=True):
        bid.commit_tx = relay
    Bid.objects.bulk_create(
        bids,
        update_conflicts=True,
        unique_fields=["job", "organization"],
        update_fields=list(BID_REPLACED),
    )
    audit_records_add(actor=actor, events=events)


def _signature_hex(bid: Bid) -> str:
    return "0x" + bytes(bid.signature).hex()


@transaction.atomic
def bid_reveal(*, actor: User, job_id: int, price: int, lead_time_days: int, salt: bytes) -> Bid:
    """Reveal the shop's sealed bid: the preimage must match the commitment."""
    profile = require_shop(actor)
    bid = (
        Bid.objects.select_for_update()
        .select_related("job")
        .filter(job_id=job_id, organization=profile.organization)
        .first()
    )
    if bid is None:
        raise Http404("You have no bid on this job.")
    now = timezone.now()
    if now < bid.job.commit_deadline:
        raise DomainError("Reveals open when bidding closes.", code="too_early", status=409)
    if now >= bid.job.reveal_deadline:
        raise DomainError("The reveal window has closed.", code="too_late", status=409)
    if bid.status == Bid.Status.REVEALED:
        raise DomainError("This bid is already revealed.", code="already_revealed", status=409)
    try:
        computed = SealedBid(job_id, bid.shop_address, price, lead_time_days, salt).commitment()
    except BidError as exc:
        raise DomainError(str(exc), code="bad_reveal") from None
    if "0x" + computed.hex() != bid.commitment:
        raise DomainError(
            "This price, lead time and salt do not match your sealed bid.",
            code="commitment_mismatch",
        )
    longest = bid.job.max_lead_time_days
    if not 1 <= lead_time_days <= longest:
        # The AuctionHouse refuses it too: a bid that would not count is not relayed.
        message = (
            f"A lead time of {lead_time_days} days cannot win this job: it must be from 1 to "
            f"{longest} days (the parts are needed by {bid.job.needed_by:%d %b %Y})."
        )
        raise DomainError(
            message, code="lead_time_out_of_range", fields={"lead_time_days": [message]}
        )
    bid.reveal_tx = chaintx_enqueue(
        idempotency_key=f"bid.reveal:{job_id}:{bid.shop_address}",
        contract="AuctionHouse",
        function="reveal",
        args=[job_id, bid.shop_address, price, lead_time_days, "0x" + salt.hex()],
        not_before=bid.job.chain_commit_deadline,
    )
    bid.status = Bid.Status.REVEALED
    bid.price = Decimal(price)
    bid.lead_time_days = lead_time_days
    bid.save()
    audit_record(actor=actor, verb="bid.revealed", target=bid, job=job_id)
    # In the reveal window the auction is still running (awards follow the reveal deadline, and a
    # job with bids cannot be cancelled): pending, as bids_for_shop would read it.
    bid.outcome = Bid.Outcome.PENDING  # type: ignore[attr-defined]
    return bid
