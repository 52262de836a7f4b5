"""Writes for jobs and their auctions (STYLE.md rules 1 and 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import DomainError
from ledger.models import ChainTx
from ledger.services.anchoring import record_leaf_add
from ledger.services.outbox import action_idempotency_key, chaintx_enqueue
from marketplace.catalog import PROCESS_MATERIALS, Certification, Material, Process
from marketplace.models import (
    Job,
    User,
)
from marketplace.money import SETTLEMENT_DECIMALS
from marketplace.records import design_file_content, job_spec_content
from marketplace.services.accounts import require_customer
from marketplace.services.audit import audit_record
from marketplace.services.wallets import customer_wallet_for
from marketplace.signals import job_cancel_check
from printfair.canonical import record_hash


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """Everything a customer fills in for a job (DESIGN.md section 3, step 1)."""

    title: str
    description: str
    process: str
    material: str
    quantity: int
    spares: int
    tolerance_mm: Decimal
    finish: str
    required_certifications: list[str] = field(default_factory=list)
    # The quality gate: characteristics each part needs a passing measurement of.
    required_characteristics: list[str] = field(default_factory=list)
    # Every part's print machine-attested from start to end (a shop needs a paired machine).
    requires_machine_attestation: bool = False
    needed_by: date
    reserve_price: Decimal
    commit_deadline: datetime
    reveal_deadline: datetime
    pricing_rule: str
    # Once awarded: hours to fund the escrow, and whether an unfunded award passes (once) to the
    # runner-up instead of failing the job.
    funding_window_hours: int = 72
    award_passes_to_runner_up: bool = False


FUNDING_WINDOW_HOURS_MAX = 30 * 24

JOB_SPEC_FIELDS = tuple(JobSpec.__dataclass_fields__)


REQUIRED_CHARACTERISTICS_MAX = 20


def _characteristics_problems(names: list[str]) -> list[str]:
    problems = []
    if len(names) > REQUIRED_CHARACTERISTICS_MAX:
        problems.append(f"At most {REQUIRED_CHARACTERISTICS_MAX} characteristics.")
    seen: set[str] = set()
    for name in names:
        if not name.strip() or len(name) > 100 or not name.isprintable():
            problems.append(f"“{name[:40]}” is not a valid name (1 to 100 printable characters).")
        elif name.casefold() in seen:
            problems.append(f"“{name}” is listed twice.")
        seen.add(name.casefold())
    return problems


def job_spec_errors(spec: JobSpec, *, now: datetime) -> dict[str, list[str]]:
    """Field errors for a job spec; empty when it is valid. One place for these rules, used by
    the forms (to show them next to the fields) and enforced again by the services."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if not spec.title.strip():
        add("title", "Give the job a title.")
    if spec.process not in Process.values:
        add("process", "Choose a known process.")
    elif spec.material not in PROCESS_MATERIALS[spec.process]:
        allowed = ", ".join(sorted(Material(m).label for m in PROCESS_MATERIALS[spec.process]))
        add(
            "material",
            f"{Process(spec.process).label} does not print this material. "
            f"Choose one of: {allowed}.",
        )
    if spec.quantity < 1:
        add("quantity", "Order at least one part.")
    if spec.spares < 0:
        add("spares", "Spares cannot be negative.")
    if spec.tolerance_mm <= 0:
        add("tolerance_mm", "The tolerance must be greater than zero.")
    if spec.reserve_price <= 0:
        add("reserve_price", "The reserve price must be greater than zero.")
    unknown = set(spec.required_certifications) - set(Certification.values)
    if unknown:
        add("required_certifications", f"Unknown certifications: {', '.join(sorted(unknown))}.")
    for problem in _characteristics_problems(spec.required_characteristics):
        add("required_characteristics", problem)
    if spec.pricing_rule not in Job.PricingRule.values:
        add("pricing_rule", "Choose first-price or second-price.")
    if spec.commit_deadline <= now:
        add("commit_deadline", "The bidding deadline must be in the future.")
    if spec.reveal_deadline <= spec.commit_deadline:
        add("reveal_deadline", "The reveal deadline must come after the bidding deadline.")
    if not 1 <= spec.funding_window_hours <= FUNDING_WINDOW_HOURS_MAX:
        add(
            "funding_window_hours",
            f"The funding window is from 1 to {FUNDING_WINDOW_HOURS_MAX} hours.",
        )
    elif spec.needed_by <= timezone.localdate(
        spec.reveal_deadline + timedelta(hours=spec.funding_window_hours)
    ):
        # Lead times count from the funding: a shop needs at least a day after the window.
        add(
            "needed_by",
            "The date the parts are needed by must come after the reveal deadline and the "
            f"{spec.funding_window_hours} hours you give yourself to fund the escrow.",
        )
    return errors


def _check_spec(spec: JobSpec) -> None:
    errors = job_spec_errors(spec, now=timezone.now())
    if errors:
        raise DomainError("The job has invalid fields.", code="validation_error", fields=errors)


@transaction.atomic
def job_create(*, actor: User, spec: JobSpec) -> Job:
    organization = require_customer(actor)
    _check_spec(spec)
    job = Job.objects.create(organization=organization, created_by=actor, **asdict(spec))
    audit_record(actor=actor, verb="job.created", target=job)
    return job


@transaction.atomic
def job_update(*, actor: User, job: Job, spec: JobSpec) -> Job:
    job = job_lock(job)
    if not job.is_editable:
        raise DomainError("Only draft jobs can be edited.", code="not_draft", status=409)
    _check_spec(spec)
    for name, value in asdict(spec).items():
        setattr(job, name, value)
    job.save()
    audit_record(actor=actor, verb="job.updated", target=job)
    return job


@transaction.atomic
def job_publish(*, actor: User, job: Job) -> Job:
    """Open the job for sealed bids."""
    job = job_lock(job)
    if job.status != Job.Status.DRAFT:
        raise DomainError("Only draft jobs can be published.", code="not_draft", status=409)
    if not job.files.exists():
        raise DomainError("Attach at least one design file before publishing.", code="no_files")
    errors = job_spec_errors(
        JobSpec(**{name: getattr(job, name) for name in JOB_SPEC_FIELDS}), now=timezone.now()
    )
    if errors:
        first = next(iter(errors.values()))[0]
        raise DomainError(
            f"Edit the job before publishing: {first}", code="validation_error", fields=errors
        )
    job.status = Job.Status.OPEN
    job.published_at = timezone.now()
    job.save(update_fields=["status", "published_at", "updated_at"])
    # The files are fixed from now on: anchor what was published.
    for design_file in job.files.select_related("job"):
        record_leaf_add(
            kind="design_file",
            record_id=str(design_file.pk),
            record=design_file_content(design_file),
        )
    # The chain's deadlines trail the API's, so what the API accepts in time lands in time.
    margin = timedelta(seconds=settings.CHAIN_RELAY_MARGIN)
    job.chain_commit_deadline = _to_the_second(job.commit_deadline + margin)
    job.chain_reveal_deadline = _to_the_second(job.reveal_deadline + margin)
    job.auction_tx = _auction_create_enqueue(job)
    job.save(update_fields=["auction_tx", "chain_commit_deadline", "chain_reveal_deadline"])
    audit_record(actor=actor, verb="job.published", target=job)
    return job


def _to_the_second(moment: datetime) -> datetime:
    """A moment as the chain keeps it: whole seconds."""
    return moment.replace(microsecond=0)


def _auction_create_enqueue(job: Job) -> ChainTx:
    wallet = customer_wallet_for(organization=job.organization)
    assert job.chain_commit_deadline and job.chain_reveal_deadline  # noqa: S101 - set by publish
    return chaintx_enqueue(
        idempotency_key=f"auction.create:job:{job.pk}",
        contract="AuctionHouse",
        function="createAuction",
        args=[
            job.pk,
            wallet.address,
            int(job.chain_commit_deadline.timestamp()),
            int(job.chain_reveal_deadline.timestamp()),
            int(job.reserve_price * 10**SETTLEMENT_DECIMALS),
            "0x" + record_hash(job_spec_content(job)).hex(),
            0 if job.pricing_rule == Job.PricingRule.FIRST_PRICE else 1,
            job.max_lead_time_days,
            job.funding_window_hours * 3600,
            job.award_passes_to_runner_up,
        ],
    )


#: The reason hash of an operator's cancel made at the customer's request.
CUSTOMER_REQUEST = record_hash({"reason": "cancelled at the customer's request"})


@transaction.atomic
def job_cancel(*, actor: User, job: Job) -> Job:
    job = job_lock(job)
    if not job.is_cancellable:
        raise DomainError(
            f"A job that is {job.get_status_display().lower()} cannot be cancelled.",
            code="not_cancellable",
            status=409,
        )
    # printshops refuses it once shops have bid (printshops/receivers.py).
    job_cancel_check.send(sender=Job, job=job)
    if job.status == Job.Status.DRAFT:
        job.status = Job.Status.CANCELLED
        job.cancelled_at = timezone.now()
        job.save(update_fields=["status", "cancelled_at", "updated_at"])
        audit_record(actor=actor, verb="job.cancelled", target=job)
        return job
    # A published job's auction is on chain: it ends there, by the customer's own wallet (which
    # the contract lets cancel only while nobody has committed). The job takes no bids from
    # now; it is cancelled when AuctionCancelled is final (marketplace/handlers.py), or opens
    # again if a commitment made directly on chain got there first (job_cancels_reconcile).
    # An organisation that pays from its own address cannot be signed for: the operator
    # cancels for it, with the reason on record.
    wallet = customer_wallet_for(organization=job.organization)
    own = not wallet.is_custodial
    cancel_tx = _auction_cancel(
        job, CUSTOMER_REQUEST if own else bytes(32), sender=None if own else wallet.address
    )
    audit_record(actor=actor, verb="job.cancel_requested", target=job, chain_tx=cancel_tx.pk)
    return job


def _auction_cancel(job: Job, reason_hash: bytes, *, sender: str | None = None) -> ChainTx:
    """Queue the job's cancelAuction (once its createAuction is mined); the job takes no bids and
    no funding while it is cancelling. A cancel the chain refused may be asked again."""
    job.cancel_tx = chaintx_enqueue(
        idempotency_key=action_idempotency_key(f"auction.cancel:job:{job.pk}"),
        contract="AuctionHouse",
        function="cancelAuction",
        args=[job.pk, "0x" + reason_hash.hex()],
        sender=sender,
        waits_for=job.auction_tx_id,
    )
    job.status = Job.Status.CANCELLING
    job.save(update_fields=["status", "cancel_tx", "updated_at"])
    return job.cancel_tx


#: What the operator may cancel: an auction on chain whose escrow is not funded.
OPERATOR_CANCELLABLE = (Job.Status.OPEN, Job.Status.REVEALING, Job.Status.AWARDED)


@transaction.atomic
def job_cancel_by_operator(*, actor: User, job: Job, reason: str) -> Job:
    """PrintFair's operators end a job's auction on chain, with a reason, at any time before its
    escrow is funded (an abusive job, a design that may not be printed...). The reason's hash
    goes on chain; its text stays in the audit trail. The job is cancelled once AuctionCancelled
    is final, with its unfunded award."""
    if not actor.is_staff:
        raise DomainError("Only PrintFair's operators cancel jobs.", code="forbidden", status=403)
    job = job_lock(job)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the job is cancelled.", code="validation_error")
    if job.status not in OPERATOR_CANCELLABLE or job.auction_tx_id is None:
        raise DomainError(
            f"A job that is {job.get_status_display().lower()} cannot be cancelled on chain: "
            "only an auction not yet funded can.",
            code="not_cancellable",
            status=409,
        )
    reason_hash = record_hash({"reason": reason})
    cancel_tx = _auction_cancel(job, reason_hash)
    audit_record(
        actor=actor,
        verb="job.cancel_requested_by_operator",
        target=job,
        reason=reason,
        reason_hash="0x" + reason_hash.hex(),
        chain_tx=cancel_tx.pk,
    )
    return job


def job_cancels_reconcile() -> int:
    """Jobs whose cancel the chain refused (a shop committed directly on chain first, or the
    escrow was funded first) are as before again, and their customers are told (the job page
    and the audit trail say so)."""
    refused = Job.objects.filter(
        status=Job.Status.CANCELLING, cancel_tx__status=ChainTx.Status.FAILED
    ).select_related("cancel_tx")
    reopened = 0
    for job in refused:
        with transaction.atomic():
            # An award stays an award (the escrow may even have been funded meanwhile: its
            # events move the job on).
            before = Job.Status.AWARDED if hasattr(job, "order") else Job.Status.OPEN
            if Job.objects.filter(pk=job.pk, status=Job.Status.CANCELLING).update(status=before):
                assert job.cancel_tx is not None  # noqa: S101 - filtered above
                audit_record(
                    actor=None, verb="job.cancel_refused", target=job, error=job.cancel_tx.error
                )
                reopened += 1
    return reopened


def auctions_finalize_due() -> int:
    """Ask the AuctionHouse to settle every auction whose reveal deadline has passed (anyone may
    call `finalize`; the outbox's idempotency key makes asking again a no-op; the call waits for
    block time to pass the deadline). The award itself arrives as the AuctionFinalized event
    (printshops/handlers.py). Jobs whose cancel the chain refused open again first."""
    job_cancels_reconcile()
    due = Job.objects.filter(
        status=Job.Status.OPEN,
        reveal_deadline__lte=timezone.now(),
        auction_tx__status=ChainTx.Status.FINAL,
    )
    asked = 0
    for job in due.select_related("auction_tx"):
        with transaction.atomic():
            chaintx_enqueue(
                idempotency_key=f"auction.finalize:job:{job.pk}",
                contract="AuctionHouse",
                function="finalize",
                args=[job.pk],
                not_before=job.chain_reveal_deadline,
            )
        asked += 1
    return asked


def job_lock(job: Job) -> Job:
    """The job's row, locked until the end of the transaction."""
    return Job.objects.select_for_update().get(pk=job.pk)
