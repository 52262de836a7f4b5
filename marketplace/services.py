"""Writes for customers, jobs and design files (STYLE.md rules 1 and 2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from config.errors import DomainError
from ledger.models import ChainTx
from ledger.services.anchoring import record_leaf_add
from ledger.services.outbox import chaintx_enqueue
from marketplace.catalog import PROCESS_MATERIALS, Certification, Material, Process
from marketplace.models import (
    AuditEvent,
    CustomerWallet,
    DesignFile,
    Job,
    Membership,
    Organization,
    User,
)
from marketplace.records import design_file_record, job_spec_record
from marketplace.uploads import DOWNLOAD_CHUNK_BYTES, EncryptedUpload, kek_for_version
from printfair.canonical import record_hash
from printfair.envelope import decrypt_chunks, unwrap_data_key, wrap_data_key


def audit_record(*, actor: User | None, verb: str, target: Model, **data: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        organization=actor.organization if actor is not None else None,
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data,
    )


# --- accounts -------------------------------------------------------------------------------


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, name: str, organization_name: str, kind: str
) -> User:
    """A new user with a new organisation that they own."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise DomainError(
            "An account with this email address already exists.",
            code="email_taken",
            fields={"email": ["An account with this email address already exists."]},
        )
    if kind not in Organization.Kind.values:
        raise DomainError(
            "Unknown organisation kind.", fields={"kind": ["Choose customer or print shop."]}
        )
    user = User.objects.create_user(email=email, password=password, name=name.strip())
    organization = Organization.objects.create(name=organization_name.strip(), kind=kind)
    Membership.objects.create(user=user, organization=organization, role=Membership.Role.OWNER)
    if organization.is_print_shop:
        # Imported here: printshops depends on marketplace, not the other way round at import time.
        from printshops.models import PrintShopProfile

        PrintShopProfile.objects.create(organization=organization)
    audit_record(actor=user, verb="user.signed_up", target=user, organization=organization.pk)
    return user


# --- jobs -----------------------------------------------------------------------------------


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
    delivery_deadline: date
    reserve_price: Decimal
    commit_deadline: datetime
    reveal_deadline: datetime
    pricing_rule: str


JOB_SPEC_FIELDS = tuple(JobSpec.__dataclass_fields__)


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
    if spec.pricing_rule not in Job.PricingRule.values:
        add("pricing_rule", "Choose first-price or second-price.")
    if spec.commit_deadline <= now:
        add("commit_deadline", "The bidding deadline must be in the future.")
    if spec.reveal_deadline <= spec.commit_deadline:
        add("reveal_deadline", "The reveal deadline must come after the bidding deadline.")
    if spec.delivery_deadline <= timezone.localdate(spec.reveal_deadline):
        add("delivery_deadline", "The delivery date must come after the reveal deadline.")
    return errors


def _check_spec(spec: JobSpec) -> None:
    errors = job_spec_errors(spec, now=timezone.now())
    if errors:
        raise DomainError("The job has invalid fields.", code="validation_error", fields=errors)


def _require_customer(actor: User) -> Organization:
    organization = actor.organization
    if organization is None or not organization.is_customer:
        raise DomainError("Only customer organisations post jobs.", code="not_customer", status=403)
    return organization


def _lock(job: Job) -> Job:
    return Job.objects.select_for_update().get(pk=job.pk)


@transaction.atomic
def job_create(*, actor: User, spec: JobSpec) -> Job:
    organization = _require_customer(actor)
    _check_spec(spec)
    job = Job.objects.create(organization=organization, created_by=actor, **asdict(spec))
    audit_record(actor=actor, verb="job.created", target=job)
    return job


@transaction.atomic
def job_update(*, actor: User, job: Job, spec: JobSpec) -> Job:
    job = _lock(job)
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
    job = _lock(job)
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
            record=design_file_record(design_file),
        )
    job.auction_tx = _auction_create_enqueue(job)
    job.save(update_fields=["auction_tx"])
    audit_record(actor=actor, verb="job.published", target=job)
    return job


#: The settlement token's decimals: prices go on chain in its base units.
SETTLEMENT_DECIMALS = 6


def _auction_create_enqueue(job: Job) -> ChainTx:
    wallet = customer_wallet_for(organization=job.organization)
    return chaintx_enqueue(
        idempotency_key=f"auction.create:job:{job.pk}",
        contract="AuctionHouse",
        function="createAuction",
        args=[
            job.pk,
            wallet.address,
            int(job.commit_deadline.timestamp()),
            int(job.reveal_deadline.timestamp()),
            int(job.reserve_price * 10**SETTLEMENT_DECIMALS),
            "0x" + record_hash(job_spec_record(job)).hex(),
            0 if job.pricing_rule == Job.PricingRule.FIRST_PRICE else 1,
        ],
    )


def _wallet_binding(organization: Organization) -> bytes:
    # Bound into the key wrapping, so a wrapped key cannot be moved to another organisation.
    return f"printfair/customer-wallet/{organization.pk}".encode()


def customer_wallet_for(*, organization: Organization) -> CustomerWallet:
    """The organisation's wallet; a custodial one is made on first use."""
    wallet = CustomerWallet.objects.filter(organization=organization).first()
    if wallet is not None:
        return wallet
    account = Account.create()
    version = settings.PRINTFAIR_KEK_CURRENT
    wrapped = wrap_data_key(
        kek_for_version(version),
        bytes(account.key),
        file_id=_wallet_binding(organization),
        kek_version=version,
    )
    return CustomerWallet.objects.create(
        organization=organization, address=account.address, wrapped_key=wrapped, kek_version=version
    )


def customer_wallet_account(*, wallet: CustomerWallet) -> LocalAccount:
    """The custodial wallet's key, unwrapped for signing (the caller must not keep it)."""
    if wallet.wrapped_key is None or wallet.kek_version is None:
        raise DomainError("This organisation pays from its own address.", code="not_custodial")
    key = unwrap_data_key(
        kek_for_version(wallet.kek_version),
        bytes(wallet.wrapped_key),
        file_id=_wallet_binding(wallet.organization),
        kek_version=wallet.kek_version,
    )
    return cast(LocalAccount, Account.from_key(key))


@transaction.atomic
def job_cancel(*, actor: User, job: Job) -> Job:
    job = _lock(job)
    if not job.is_cancellable:
        raise DomainError(
            f"A job that is {job.get_status_display().lower()} cannot be cancelled.",
            code="not_cancellable",
            status=409,
        )
    job.status = Job.Status.CANCELLED
    job.cancelled_at = timezone.now()
    job.save(update_fields=["status", "cancelled_at", "updated_at"])
    audit_record(actor=actor, verb="job.cancelled", target=job)
    return job


# --- design files ---------------------------------------------------------------------------


def _refresh_envelope(job: Job) -> None:
    """The job's part envelope: per sorted axis, the largest of its files' sorted sizes."""
    sizes = [sorted(f.size_mm, reverse=True) for f in job.files.all() if f.size_mm is not None]
    job.envelope_a_mm, job.envelope_b_mm, job.envelope_c_mm = (
        (max(s[i] for s in sizes) for i in range(3)) if sizes else (None, None, None)
    )
    job.save(update_fields=["envelope_a_mm", "envelope_b_mm", "envelope_c_mm", "updated_at"])


def design_file_attach(*, actor: User, job: Job, upload: EncryptedUpload) -> DesignFile:
    """Keep an upload that was encrypted as it arrived. The ciphertext is moved into storage and
    the row written in one transaction; if anything fails, the stored ciphertext is removed."""
    try:
        blob = default_storage.save(f"designs/{job.pk}/{upload.file_id}.pfe", upload)
    finally:
        upload.close()  # the ciphertext has been moved (or copied) into storage
    try:
        with transaction.atomic():
            job = _lock(job)
            if not job.is_editable:
                raise DomainError(
                    "Files can only be added while the job is a draft.",
                    code="not_draft",
                    status=409,
                )
            if job.files.count() >= settings.PRINTFAIR_MAX_FILES_PER_JOB:
                raise DomainError(
                    f"A job holds at most {settings.PRINTFAIR_MAX_FILES_PER_JOB} files.",
                    code="too_many_files",
                )
            if job.files.filter(sha256=upload.sha256).exists():
                raise DomainError(
                    f"“{upload.name}” is already attached to this job.", code="duplicate_file"
                )
            geometry = upload.inspection.geometry
            size = geometry.size_mm if geometry else (None, None, None)
            design_file = DesignFile.objects.create(
                id=upload.file_id,
                job=job,
                original_name=upload.name or "design",
                kind=upload.inspection.kind.value,
                size_bytes=upload.plaintext_size,
                sha256=upload.sha256,
                blob=blob,
                wrapped_key=upload.wrapped_key,
                kek_version=upload.kek_version,
                triangle_count=geometry.triangle_count if geometry else None,
                size_x_mm=size[0],
                size_y_mm=size[1],
                size_z_mm=size[2],
                volume_cm3=geometry.volume_cm3 if geometry else None,
                uploaded_by=actor,
                registration=design_registration_enqueue(
                    sha256=upload.sha256, organization=job.organization
                ),
            )
            _refresh_envelope(job)
            audit_record(
                actor=actor,
                verb="design_file.uploaded",
                target=design_file,
                job=job.pk,
                sha256=upload.sha256,
            )
    except (DomainError, IntegrityError):
        default_storage.delete(blob)
        raise
    return design_file


@transaction.atomic
def design_registration_enqueue(*, sha256: str, organization: Organization) -> ChainTx:
    """Register a design's plaintext hash on DesignRegistry as proof of existence. A hash is
    registered once, by whoever uploads it first; the owner reference is opaque on chain."""
    owner_ref = keccak(text=f"printfair/organization/{organization.pk}")
    return chaintx_enqueue(
        idempotency_key=f"design.register:{sha256}",
        contract="DesignRegistry",
        function="register",
        args=["0x" + sha256, "0x" + owner_ref.hex()],
    )


@transaction.atomic
def design_file_delete(*, actor: User, design_file: DesignFile) -> None:
    job = _lock(design_file.job)
    if not job.is_editable:
        raise DomainError(
            "Files can only be removed while the job is a draft.", code="not_draft", status=409
        )
    blob = design_file.blob
    audit_record(
        actor=actor, verb="design_file.deleted", target=design_file, sha256=design_file.sha256
    )
    design_file.delete()
    _refresh_envelope(job)
    transaction.on_commit(lambda: default_storage.delete(blob))


def design_file_plaintext(*, actor: User, design_file: DesignFile) -> Iterator[bytes]:
    """The decrypted file as a stream of verified segments. Audited when the download starts."""
    kek = kek_for_version(design_file.kek_version)
    data_key = unwrap_data_key(
        kek,
        bytes(design_file.wrapped_key),
        file_id=design_file.id.bytes,
        kek_version=design_file.kek_version,
    )
    audit_record(actor=actor, verb="design_file.downloaded", target=design_file)

    def chunks() -> Iterator[bytes]:
        with default_storage.open(design_file.blob, "rb") as handle:
            while chunk := handle.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk

    return decrypt_chunks(chunks(), data_key, design_file.id.bytes)


def uploads_purge_abandoned(*, older_than: timedelta) -> int:
    """Remove ciphertext that no design file owns: parts of uploads cut off by a crash, and
    blobs whose row was never committed. Returns how many files were removed."""
    cutoff = time.time() - older_than.total_seconds()
    removed = 0
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if incoming.is_dir():
        for path in incoming.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    if not default_storage.exists("designs"):
        return removed
    known = set(DesignFile.objects.values_list("blob", flat=True))
    job_dirs, _ = default_storage.listdir("designs")
    for job_dir in job_dirs:
        _, names = default_storage.listdir(f"designs/{job_dir}")
        for name in names:
            blob = f"designs/{job_dir}/{name}"
            modified = default_storage.get_modified_time(blob).timestamp()
            if blob not in known and modified < cutoff:
                default_storage.delete(blob)
                removed += 1
    return removed


def auctions_finalize_due() -> int:
    """Ask the AuctionHouse to settle every auction whose reveal deadline has passed (anyone may
    call `finalize`; the outbox's idempotency key makes asking again a no-op). The award itself
    arrives as the AuctionFinalized event (marketplace/handlers.py)."""
    due = Job.objects.filter(
        status=Job.Status.OPEN,
        reveal_deadline__lte=timezone.now(),
        auction_tx__status=ChainTx.Status.FINAL,
    )
    asked = 0
    for job_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            chaintx_enqueue(
                idempotency_key=f"auction.finalize:job:{job_id}",
                contract="AuctionHouse",
                function="finalize",
                args=[job_id],
            )
        asked += 1
    return asked
