"""What the marketplace's services share: the audit trail, the acting customer, row locks."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from config.errors import DomainError
from marketplace.models import (
    AuditEvent,
    Job,
    Organization,
    User,
)


def audit_record(*, actor: User | None, verb: str, target: Model, **data: Any) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        organization=actor.organization if actor is not None else None,
        verb=verb,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        data=data,
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
