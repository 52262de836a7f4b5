"""The audit trail: who did what to which object, one row per action (the admin shows it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Model

from marketplace.models import AuditEvent, User

# One action to audit: its verb, the object it was done to, and what to record of it.
AuditEntry = tuple[str, Model, Mapping[str, Any]]


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


def audit_records_add(*, actor: User | None, events: Iterable[AuditEntry]) -> list[AuditEvent]:
    """Many audit rows of one actor, each (verb, target, data) as `audit_record` takes them, in
    one statement (per database batch)."""
    return AuditEvent.objects.bulk_create(audit_events(actor=actor, events=events))


def audit_events(*, actor: User | None, events: Iterable[AuditEntry]) -> list[AuditEvent]:
    """The rows `audit_records_add` inserts, not saved, for a caller that inserts them with rows
    of its own (config.rows, printshops.services.bid_rows)."""
    return [_audit_event(actor, verb, target, data) for verb, target, data in events]
