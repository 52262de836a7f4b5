"""Writes for encrypted design files (STYLE.md rules 1 and 2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from config.errors import DomainError
from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue
from marketplace.models import (
    DesignFile,
    Job,
    Organization,
    User,
)
from marketplace.services.audit import audit_record
from marketplace.services.jobs import job_lock
from marketplace.uploads import DOWNLOAD_CHUNK_BYTES, EncryptedUpload, kek_for_version
from printfair.envelope import decrypt_chunks, unwrap_data_key


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
            job = job_lock(job)
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
                watertight=geometry.watertight if geometry else None,
                consistently_wound=geometry.consistently_wound if geometry else None,
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
    except BaseException:
        # Refused, or failed (a locked or lost database): nothing stays stored without its row.
        default_storage.delete(blob)
        raise
    return design_file


@transaction.atomic
def design_registration_enqueue(*, sha256: str, organization: Organization) -> ChainTx:
    """Register a design's plaintext hash on DesignRegistry as the organisation's proof of
    existence: once per organisation (its files in several jobs share it), and never another's —
    two organisations holding the same file each get their own, under their opaque reference."""
    return chaintx_enqueue(
        idempotency_key=f"design.register:{sha256}:{organization.owner_ref}",
        contract="DesignRegistry",
        function="register",
        args=["0x" + sha256, organization.owner_ref],
    )


@transaction.atomic
def design_file_delete(*, actor: User, design_file: DesignFile) -> None:
    job = job_lock(design_file.job)
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


def design_file_data_key(design_file: DesignFile) -> bytes:
    """The file's data key, unwrapped from under its KEK version (the caller must not keep it)."""
    return unwrap_data_key(
        kek_for_version(design_file.kek_version),
        bytes(design_file.wrapped_key),
        file_id=design_file.id.bytes,
        kek_version=design_file.kek_version,
    )


def design_file_plaintext(*, actor: User, design_file: DesignFile) -> Iterator[bytes]:
    """The decrypted file as a stream of verified segments. Audited when the download starts."""
    data_key = design_file_data_key(design_file)
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
