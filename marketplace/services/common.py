"""What the marketplace's services share: the audit trail, the acting customer, row locks."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Model

from config.errors import DomainError
from marketplace.models import (
    AuditEvent,
    Job,
    Order,
    Organization,
    User,
)

EVIDENCE_MAX_BYTES = 20 * 1024 * 1024


def _audit_event(
    actor: User | None, verb: str, target: Model, data: Mapping[str, Any]
) -> AuditEvent:
    return AuditEvent(
        actor=actor,
        organization=actor.organization if actor is not None else None,
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=dict(data),
    )


def audit_record(*, actor: User | None, verb: str, target: Model, **data: Any) -> AuditEvent:
    event = _audit_event(actor, verb, target, data)
    event.save(force_insert=True)
    return event


def audit_records_add(
    *, actor: User | None, events: Iterable[tuple[str, Model, Mapping[str, Any]]]
) -> list[AuditEvent]:
    """Many audit rows of one actor, each (verb, target, data) as `audit_record` takes them, in
    one statement (per database batch)."""
    return AuditEvent.objects.bulk_create(
        [_audit_event(actor, verb, target, data) for verb, target, data in events]
    )


def _require_customer(actor: User) -> Organization:
    organization = actor.organization
    if organization is None or not organization.is_customer:
        raise DomainError("Only customer organisations post jobs.", code="not_customer", status=403)
    return organization


def _lock(job: Job) -> Job:
    return Job.objects.select_for_update().get(pk=job.pk)


#: The settlement token's decimals: prices go on chain in its base units.
SETTLEMENT_DECIMALS = 6


def evidence_store(
    order: Order, upload: UploadedFile[bytes], *, field: str = "evidence"
) -> dict[str, str | int]:
    """Keep an evidence file of `order` (a dispute's, or a shop's photo or measurements): its
    storage name, SHA-256 and size, for the record that cites it."""
    size = upload.size or 0
    name = upload.name or "evidence"
    if size > EVIDENCE_MAX_BYTES:
        message = f"{name} is larger than {EVIDENCE_MAX_BYTES // (1024 * 1024)} MiB."
        raise DomainError(message, fields={field: [message]})
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    blob = default_storage.save(f"evidence/{order.job_id}/{uuid.uuid4().hex}", upload)
    # Stored before the transaction commits: a rollback leaves an orphan file, never a record
    # without its file.
    return {"name": name[:200], "blob": blob, "sha256": digest.hexdigest(), "size_bytes": size}
