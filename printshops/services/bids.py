"""Writes for sealed bids: commit (relayed to the AuctionHouse) and reveal."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from config.errors import DomainError
from ledger.chain import chain_config
from ledger.contracts import AUCTION_HOUSE, ContractNotDeployed, contract_address
from ledger.services.outbox import chaintx_enqueue
from marketplace.catalog import Certification, Material, Process
from marketplace.models import Job, User
from marketplace.services import audit_record
from printfair.eip712 import Bid as SealedBid
from printfair.eip712 import BidError, verify_sealed_bid_signature
from printshops.models import Bid, PrintShopProfile
from printshops.services.shops import require_shop


def _auction_house_address(chain_id: int) -> str:
    try:
        return contract_address(AUCTION_HOUSE, chain_id)
    except ContractNotDeployed:
        raise DomainError(
            "Bidding is not open yet: the auction contract is not deployed.",
            code="chain_not_ready",
            status=503,
        ) from None


# The job's fields bid_eligibility_problems reads.
BID_ELIGIBILITY_FIELDS = (
    "process",
    "material",
    "required_certifications",
    "envelope_a_mm",
    "envelope_b_mm",
    "envelope_c_mm",
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


@transaction.atomic
def bid_commit(
    *, actor: User, job_id: int, commitment: bytes, version: int, signature: bytes
) -> Bid:
    """Accept a sealed bid signed by the shop's own key, and relay it to the AuctionHouse. A
    newer version replaces the shop's bid until the bidding deadline."""
    profile = require_shop(actor)
    if not profile.is_verified:
        raise DomainError("Only verified shops bid.", code="not_verified", status=403)
    if not profile.eth_address:
        raise DomainError(
            "Register your shop's keys before bidding (PUT /api/v1/shop/keys/).",
            code="no_keys",
            status=409,
        )
    # Locking the job serialises bids on it: versions and the one-bid rule hold under load.
    # Only what the checks below and the answer read: this runs for every bid.
    job = (
        Job.objects.select_for_update()
        .only(
            "status",
            "title",
            "commit_deadline",
            "reveal_deadline",
            "auction_tx",
            *BID_ELIGIBILITY_FIELDS,
        )
        .filter(pk=job_id, status=Job.Status.OPEN)
        .first()
    )
    if job is None:
        raise Http404("No open job with this id.")
    if job.commit_deadline <= timezone.now():
        raise DomainError("Bidding on this job has closed.", code="bidding_closed", status=409)
    problems = bid_eligibility_problems(profile=profile, job=job)
    if problems:
        raise DomainError(
            "Your shop cannot bid on this job: " + "; ".join(problems) + ".",
            code="not_eligible",
            status=403,
        )
    config = chain_config()
    try:
        verify_sealed_bid_signature(
            signature,
            chain_id=config.chain_id,
            contract=_auction_house_address(config.chain_id),
            job_id=job.pk,
            shop=profile.eth_address,
            commitment=commitment,
            version=version,
        )
    except BidError as exc:
        raise DomainError(
            f"The bid's signature is not your shop's for this job: {exc}", code="bad_signature"
        ) from None
    bid = Bid.objects.filter(job=job, organization=profile.organization).first()
    if bid is not None and version <= bid.version:
        raise DomainError(
            f"A bid with version {bid.version} is already in; send a higher version.",
            code="stale_version",
            status=409,
        )
    # Relayed once the auction is on chain: a bid in the block after publishing (or after a
    # sender outage) would otherwise be measured before createAuction and refused for good.
    commit_tx = chaintx_enqueue(
        idempotency_key=f"bid.commit:{job.pk}:{profile.eth_address}:{version}",
        contract="AuctionHouse",
        function="commitFor",
        args=[
            job.pk,
            profile.eth_address,
            "0x" + commitment.hex(),
            version,
            "0x" + signature.hex(),
        ],
        waits_for=job.auction_tx_id,
    )
    # The job's lock makes the read above current: a plain insert or update, no upsert.
    bid = bid or Bid(job=job, organization=profile.organization)
    bid.shop_address = profile.eth_address
    bid.commitment = "0x" + commitment.hex()
    bid.version = version
    bid.signature = signature
    bid.commit_tx = commit_tx
    bid.save()
    audit_record(actor=actor, verb="bid.committed", target=bid, job=job.pk, version=version)
    return bid


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
    return bid
