"""Reads of an order's production: each part's timeline with its anchoring and verdict, and
the certificates and evidence files of a party's own order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import Count, F, Q
from django.http import Http404

from ledger.models import AnchorBatch, RecordLeaf
from ledger.services.verification import (
    AnchorState,
    anchor_states,
)
from marketplace.models import Order, User
from printshops.models import (
    Certificate,
    EvidenceFile,
    PartRecord,
    PrintTicket,
)
from printshops.quality import PartVerdict, part_verdict
from printshops.records import part_record_altered
from printshops.services.production import part_scope


@dataclass(frozen=True)
class TimelineEntry:
    record: PartRecord
    anchor: AnchorState
    # The live record no longer hashes to what was anchored (changed in the database).
    altered: bool


@dataclass
class PartTimeline:
    part_serial: str
    entries: list[TimelineEntry] = field(default_factory=list)
    # Numbers missing from the part's sequence: entries deleted from the database.
    missing: list[int] = field(default_factory=list)
    # Entries anchored for this part whose rows are gone (their leaves remain).
    removed: int = 0
    # Anchored batches holding this part's records that lost records with their leaves.
    broken_batches: list[int] = field(default_factory=list)
    certificate: Certificate | None = None
    # The part's verdict on its records now (printshops.quality.part_verdict).
    verdict: PartVerdict | None = None

    @property
    def latest(self) -> PartRecord | None:
        return self.entries[-1].record if self.entries else None

    @property
    def shipped(self) -> bool:
        return any(entry.record.kind == PartRecord.Kind.SHIPPED for entry in self.entries)

    @property
    def failing(self) -> bool:
        return bool(self.missing or self.removed or self.broken_batches) or any(
            entry.altered for entry in self.entries
        )


def order_part_timelines(*, order: Order) -> list[PartTimeline]:
    """Each part of the order (every part a print ticket names) with its records in sequence,
    their anchoring states, and whether any was altered or removed since it was anchored."""
    records = list(
        PartRecord.objects.filter(order=order)
        .select_related("order")
        .prefetch_related("evidence")
        .order_by("part_serial", "seq")
    )
    states = anchor_states("part_record", [str(record.pk) for record in records])
    parts: dict[str, PartTimeline] = {
        serial: PartTimeline(serial)
        for serial in PrintTicket.objects.filter(licence__order=order)
        .order_by("number")
        .values_list("part_serial", flat=True)
    }
    for record in records:
        state = states[str(record.pk)]
        parts.setdefault(record.part_serial, PartTimeline(record.part_serial)).entries.append(
            TimelineEntry(record, state, part_record_altered(record, state.record_hash))
        )
    for certificate in Certificate.objects.filter(order=order):
        if certificate.part_serial in parts:
            parts[certificate.part_serial].certificate = certificate
    _removed_and_broken(order, parts, {str(record.pk) for record in records})
    required = order.job.required_characteristics or []
    attested = order.job.requires_machine_attestation
    for part in parts.values():
        altered = {entry.record for entry in part.entries if entry.altered}
        part.verdict = part_verdict(
            [entry.record for entry in part.entries],
            required=required,
            altered=altered.__contains__,
            attested=attested,
        )
        numbers = {entry.record.seq for entry in part.entries}
        # Entries listed on the part's certificate count too: the last one may be gone.
        highest = max([*numbers, len(part.certificate.records) if part.certificate else 0, 0])
        part.missing = [seq for seq in range(1, highest + 1) if seq not in numbers]
    return list(parts.values())


def _removed_and_broken(order: Order, parts: dict[str, PartTimeline], present: set[str]) -> None:
    """Mark parts whose anchored records were deleted: rows gone while their leaves remain, and
    batches that hold fewer leaves than the chain committed to (rows deleted with leaves)."""
    prefix = part_scope(order, "")
    leaves = RecordLeaf.objects.filter(kind="part_record", scope__startswith=prefix).values_list(
        "record_id", "scope", "batch_id"
    )
    batches_of: dict[str, set[int]] = {}
    for record_id, scope, batch_id in leaves:
        serial = scope[len(prefix) :]
        part = parts.setdefault(serial, PartTimeline(serial))
        if record_id not in present:
            part.removed += 1
        if batch_id is not None:
            batches_of.setdefault(serial, set()).add(batch_id)
    broken = set(
        AnchorBatch.objects.filter(pk__in=set().union(*batches_of.values()))
        .annotate(present=Count("leaves"))
        .filter(present__lt=F("leaf_count"))
        .values_list("pk", flat=True)
    )
    for serial, batch_ids in batches_of.items():
        parts[serial].broken_batches = sorted(batch_ids & broken)


def _of_own_order(user: User, job_id: int) -> Q:
    """Rows of an order the user's organisation is a party to: the customer whose job it is,
    or the shop that won it (nobody else; no organisation, no rows)."""
    organization = user.organization
    if organization is None:
        return Q(pk__in=[])
    parties = Q(order__job__organization=organization) | Q(order__shop=organization)
    return parties & Q(order__job_id=job_id)


def certificate_for_user(*, user: User, job_id: int, certificate_id: uuid.UUID) -> Certificate:
    """A certificate of the user's own job (the customer) or own order (the shop)."""
    certificate = (
        Certificate.objects.select_related("order__job__organization", "order__shop")
        .filter(_of_own_order(user, job_id), pk=certificate_id)
        .first()
    )
    if certificate is None:
        raise Http404("No such certificate.")
    return certificate


def evidence_for_user(*, user: User, job_id: int, evidence_id: uuid.UUID) -> EvidenceFile:
    """An evidence file of the user's own job (the customer) or own order (the shop)."""
    evidence = EvidenceFile.objects.filter(_of_own_order(user, job_id), pk=evidence_id).first()
    if evidence is None:
        raise Http404("No such evidence file.")
    return evidence
