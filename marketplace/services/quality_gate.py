"""The quality gate (issue: a job may require passing records for named characteristics):
acceptance, delivery and the automatic release wait until at least the job's quantity of parts
each have, for every required characteristic, a latest measurement that passes, whose anchor is
final on chain, and that still matches what was anchored. The shop reports the measurements
(printshops/services/production.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from config.errors import DomainError
from ledger.services.verification import anchor_states
from marketplace.models import Order
from printshops.models import PartRecord, PrintTicket
from printshops.records import part_record_altered


@dataclass
class PartQuality:
    """One part's standing against the gate: per required characteristic, why it does not
    pass yet (absent when it passes)."""

    part_serial: str
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return not self.problems


@dataclass
class QualityGate:
    required: list[str]
    needed: int
    parts: list[PartQuality]

    @property
    def passing(self) -> int:
        return sum(1 for part in self.parts if part.passes)

    @property
    def met(self) -> bool:
        return not self.required or self.passing >= self.needed

    def explain(self) -> str:
        if self.met:
            return "Quality gate met."
        lines = [
            f"Quality gate not met: {self.passing} of the {self.needed} parts needed have a "
            f"passing, anchored and final record for {', '.join(self.required)}."
        ]
        for part in self.parts:
            for characteristic, problem in part.problems.items():
                lines.append(f"Part {part.part_serial}, {characteristic}: {problem}.")
        return " ".join(lines)


def quality_gate(*, order: Order) -> QualityGate:
    """Whether at least the job's quantity of parts have, for every characteristic the job
    requires, a latest measurement that passes and is anchored and final."""
    required = list(order.job.required_characteristics or [])
    gate = QualityGate(required=required, needed=order.job.quantity, parts=[])
    if not required:
        return gate
    measurements = list(
        PartRecord.objects.filter(
            order=order, kind=PartRecord.Kind.QUALITY, characteristic__in=required
        )
        .select_related("order")
        .prefetch_related("evidence")
        .order_by("part_serial", "seq")
    )
    latest: dict[tuple[str, str], PartRecord] = {}
    for record in measurements:
        latest[(record.part_serial, record.characteristic)] = record
    states = anchor_states("part_record", (str(record.pk) for record in latest.values()))
    serials = sorted(
        set(PrintTicket.objects.filter(licence__order=order).values_list("part_serial", flat=True))
    )
    for serial in serials:
        part = PartQuality(part_serial=serial)
        for characteristic in required:
            found = latest.get((serial, characteristic))
            if found is None:
                part.problems[characteristic] = "not measured"
            elif not found.passed:
                measured = f"{found.data.get('measured')} {found.data.get('unit', '')}".strip()
                part.problems[characteristic] = f"failed ({measured})"
            elif part_record_altered(found, states[str(found.pk)].record_hash):
                # Counted on what was anchored, never on a record changed since.
                part.problems[characteristic] = "changed since it was anchored"
            elif not states[str(found.pk)].is_final:
                part.problems[characteristic] = "passed, anchoring not final yet"
        gate.parts.append(part)
    return gate


def require_quality_gate(order: Order) -> None:
    gate = quality_gate(order=order)
    if not gate.met:
        raise DomainError(gate.explain(), code="quality_gate", status=409)
