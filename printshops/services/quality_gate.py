"""The quality gate (issue: a job may require passing records for named characteristics):
acceptance, delivery and the automatic release wait until at least the job's quantity of parts
each have a passing verdict (printshops.quality.part_verdict: every required characteristic, and
any other characteristic measured, passes at its latest measurement) whose deciding
measurements are final on chain and still match what was anchored. The shop reports the
measurements (printshops/services/production.py). A job that requires machine-attested prints
adds one condition per part: its print signed by the machine from start to end
(printshops.quality.attested_print), anchored and final like a measurement."""

from __future__ import annotations

from dataclasses import dataclass, field

from config.errors import DomainError
from ledger.services.verification import AnchorState, anchor_states
from marketplace.models import Order
from printshops.models import PartRecord, PrintTicket
from printshops.quality import MACHINE_ATTESTED, PartVerdict, Result, part_verdict
from printshops.records import part_record_altered


@dataclass
class PartQuality:
    """One part's standing against the gate: its verdict, and per characteristic why it does
    not pass yet (absent when it passes)."""

    part_serial: str
    verdict: PartVerdict | None = None
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return not self.problems


@dataclass
class QualityGate:
    required: list[str]
    needed: int
    parts: list[PartQuality]
    #: The job requires every part's print machine-attested (printshops.quality.attested_print).
    attested: bool = False

    @property
    def passing(self) -> int:
        return sum(1 for part in self.parts if part.passes)

    @property
    def met(self) -> bool:
        return not (self.required or self.attested) or self.passing >= self.needed

    def explain(self) -> str:
        if self.met:
            return "Quality gate met."
        wanted = [*([MACHINE_ATTESTED] if self.attested else []), *self.required]
        lines = [
            f"Quality gate not met: {self.passing} of the {self.needed} parts needed have a "
            f"passing, anchored and final record for {', '.join(wanted)}."
        ]
        for part in self.parts:
            for characteristic, problem in part.problems.items():
                lines.append(f"Part {part.part_serial}, {characteristic}: {problem}.")
        return " ".join(lines)


_ATTESTATION_PROBLEMS = {
    Result.NOT_MEASURED: "no print signed by the machine from start to end yet",
    Result.FAILED: "the machine signed a failed print, or a file that is no released design",
}


def _problems(verdict: PartVerdict, states: dict[str, AnchorState]) -> dict[str, str]:
    problems: dict[str, str] = {}
    for item in verdict.characteristics:
        latest = item.latest
        if item.characteristic == MACHINE_ATTESTED and item.status != Result.PASSED:
            problems[item.characteristic] = _ATTESTATION_PROBLEMS[item.status]
        elif item.status == Result.NOT_MEASURED or latest is None:
            problems[item.characteristic] = "not measured"
        elif item.status == Result.ALTERED:
            # Counted on what was anchored, never on a record changed since.
            problems[item.characteristic] = "changed since it was anchored"
        elif item.status == Result.FAILED:
            measured = f"{latest.data.get('measured')} {latest.data.get('unit', '')}".strip()
            problems[item.characteristic] = f"failed ({measured})"
        elif not states[str(latest.pk)].is_final:
            problems[item.characteristic] = "passed, anchoring not final yet"
    return problems


def quality_gate(*, order: Order) -> QualityGate:
    """Whether at least the job's quantity of parts have a passing verdict (every characteristic
    the job requires, and any other one measured, passes at its latest measurement) whose
    deciding measurements are anchored, final and unchanged."""
    required = list(order.job.required_characteristics or [])
    attested = order.job.requires_machine_attestation
    gate = QualityGate(required=required, needed=order.job.quantity, parts=[], attested=attested)
    if not (required or attested):
        return gate
    kinds = [PartRecord.Kind.QUALITY]
    if attested:
        kinds += [PartRecord.Kind.PRINT_STARTED, PartRecord.Kind.PRINT_FINISHED]
    measurements = list(
        PartRecord.objects.filter(order=order, kind__in=kinds)
        .select_related("order")
        .prefetch_related("evidence")
        .order_by("part_serial", "seq")
    )
    states = anchor_states("part_record", (str(record.pk) for record in measurements))
    of_part: dict[str, list[PartRecord]] = {}
    for record in measurements:
        of_part.setdefault(record.part_serial, []).append(record)
    serials = sorted(
        set(PrintTicket.objects.filter(licence__order=order).values_list("part_serial", flat=True))
    )
    for serial in serials:
        verdict = part_verdict(
            of_part.get(serial, []),
            required=required,
            altered=lambda record: part_record_altered(record, states[str(record.pk)].record_hash),
            attested=attested,
        )
        gate.parts.append(
            PartQuality(part_serial=serial, verdict=verdict, problems=_problems(verdict, states))
        )
    return gate


def require_quality_gate(order: Order) -> None:
    gate = quality_gate(order=order)
    if not gate.met:
        raise DomainError(gate.explain(), code="quality_gate", status=409)
