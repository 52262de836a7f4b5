"""What the marketplace's services share: the audit trail, the acting customer, row locks,
the settlement token's amounts."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

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


def format_amount(base_units: int | Decimal) -> str:
    """Base units of the settlement token as dollars, e.g. 1234500000 -> '1,234.50'."""
    return f"{Decimal(base_units) / 10**SETTLEMENT_DECIMALS:,.2f}"


P = ParamSpec("P")
R = TypeVar("R")

# The evidence files stored by the service running in this context (see files_kept_on_success).
_stored_blobs: ContextVar[list[str] | None] = ContextVar("stored_blobs", default=None)


def files_kept_on_success(service: Callable[P, R]) -> Callable[P, R]:
    """For a service that stores files (evidence_store) and writes the rows that cite them in its
    transaction (put this above its @transaction.atomic): when it raises, its transaction is
    rolled back and the files it stored are removed, so a refused or failed request never leaves
    a file that no row cites."""

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        stored: list[str] = []
        token = _stored_blobs.set(stored)
        try:
            return service(*args, **kwargs)
        except BaseException:
            for blob in stored:
                with contextlib.suppress(OSError):
                    default_storage.delete(blob)
            raise
        finally:
            _stored_blobs.reset(token)

    return run


def evidence_store(
    order: Order, upload: UploadedFile[bytes], *, field: str = "evidence"
) -> dict[str, str | int]:
    """Keep an evidence file of `order` (a dispute's, or a shop's photo or measurements): its
    storage name, SHA-256 and size, for the record that cites it. Only within a service marked
    files_kept_on_success, which removes the file again if the service fails."""
    stored = _stored_blobs.get()
    if stored is None:
        raise RuntimeError("evidence_store needs a service marked @files_kept_on_success")
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
    stored.append(blob)
    return {"name": name[:200], "blob": blob, "sha256": digest.hexdigest(), "size_bytes": size}
