"""A part's verdict from its quality measurements, decided here and nowhere else: the quality
gate (printshops/services/quality_gate.py), the issuing of certificates (certificates_issue),
the certificate page and PDF (printshops/views/certificates.py) and the public verification page
(printshops.selectors.verification_for) all take it from `part_verdict`.

Per characteristic the part's latest measurement decides: the highest `seq`, the part's own
numbering in the order the shop reported, never the time it claims. A re-measurement that passes
after one that failed makes the characteristic pass; one that fails after a pass makes it fail.
The earlier measurements stay on record and are shown as superseded by the retest, never
counted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from printshops.models import PartRecord


class Result(StrEnum):
    """A characteristic's status (PASSED, FAILED, NOT_MEASURED, ALTERED), or a part's (PASSED,
    FAILED, NO_MEASUREMENTS). Templates compare them as the strings they are."""

    PASSED = "pass"
    FAILED = "fail"
    NOT_MEASURED = "not measured"  # required by the job, no measurement reported
    ALTERED = "altered"  # its latest measurement is no longer what was anchored
    NO_MEASUREMENTS = "none"  # a part with nothing measured and nothing required


@dataclass(frozen=True)
class CharacteristicVerdict:
    """One characteristic of a part: the measurement that decides it (None when not measured)
    and the earlier ones it superseded, oldest first."""

    characteristic: str
    required: bool
    status: Result
    latest: PartRecord | None
    superseded: tuple[PartRecord, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == Result.PASSED


@dataclass(frozen=True)
class PartVerdict:
    """A part's characteristics, required ones first in the job's order, then the others in the
    order they were first measured."""

    characteristics: tuple[CharacteristicVerdict, ...]

    @property
    def status(self) -> Result:
        """PASSED when every characteristic passes, FAILED when any does not, NO_MEASUREMENTS
        when there is nothing to judge."""
        if not self.characteristics:
            return Result.NO_MEASUREMENTS
        if all(item.passed for item in self.characteristics):
            return Result.PASSED
        return Result.FAILED

    @property
    def passed(self) -> bool:
        return self.status == Result.PASSED

    @property
    def not_passing(self) -> list[CharacteristicVerdict]:
        return [item for item in self.characteristics if not item.passed]

    @property
    def pending(self) -> bool:
        """Not passing, but nothing fails: what does not pass is only not measured yet."""
        return bool(self.not_passing) and all(
            item.status == Result.NOT_MEASURED for item in self.not_passing
        )

    @property
    def superseded(self) -> int:
        """How many measurements a retest superseded."""
        return sum(len(item.superseded) for item in self.characteristics)

    @property
    def superseded_ids(self) -> frozenset[str]:
        """The ids of the measurements a retest superseded."""
        return frozenset(
            str(record.pk) for item in self.characteristics for record in item.superseded
        )


#: How a machine's print file compares with the designs released for its print ticket
#: (printshops.services.attestation), as its machine-attested start says.
AS_RELEASED = "as released"
DERIVED = "derived from the released design"
DIFFERS = "matches no released design"
#: What a job that requires machine-attested prints (Job.requires_machine_attestation) adds to
#: each part's verdict, as if it were one more required characteristic.
MACHINE_ATTESTED = "Machine-attested print"


def attested_print(
    records: Iterable[PartRecord], altered: Callable[[PartRecord], bool] | None = None
) -> CharacteristicVerdict:
    """Whether the part's latest print is machine-attested from start to end: a start the
    machine signed for the released design (or a file it declared derived from it), then an
    end it signed as completed. A print the machine says it ended in failure, or of a file that
    is no released design, fails; no such print yet is NOT_MEASURED; a record changed since it
    was anchored counts as absent."""
    signed = sorted(
        (r for r in records if r.attestation and not (altered is not None and altered(r))),
        key=lambda record: record.seq,
    )
    starts = [r for r in signed if r.kind == PartRecord.Kind.PRINT_STARTED]
    start = starts[-1] if starts else None
    end = next(
        (
            r
            for r in signed
            if r.kind == PartRecord.Kind.PRINT_FINISHED and start is not None and r.seq > start.seq
        ),
        None,
    )
    if start is None or (end is None and start.data.get("design") != DIFFERS):
        status = Result.NOT_MEASURED
    elif start.data.get("design") == DIFFERS or (end and end.data.get("outcome") != "completed"):
        status = Result.FAILED
    else:
        status = Result.PASSED
    return CharacteristicVerdict(MACHINE_ATTESTED, True, status, end or start)


def part_verdict(
    records: Iterable[PartRecord],
    *,
    required: Sequence[str] = (),
    altered: Callable[[PartRecord], bool] | None = None,
    attested: bool = False,
) -> PartVerdict:
    """The verdict of one part: every characteristic the job requires (`required`) or that was
    measured, each decided by its latest measurement among `records` (the part's records, of any
    kind, in any order). `altered` tells whether a record changed since it was queued for
    anchoring: such a latest measurement decides nothing (Result.ALTERED), since what it says now is
    not what was anchored. With `attested` (a job that requires machine-attested prints), the
    part's latest print decides one more characteristic first (`attested_print`)."""
    records = list(records)
    measurements = sorted(
        (record for record in records if record.kind == PartRecord.Kind.QUALITY),
        key=lambda record: record.seq,
    )
    serials = {record.part_serial for record in measurements}
    if len(serials) > 1:
        raise ValueError(f"Records of more than one part: {', '.join(sorted(serials))}.")
    by_characteristic: dict[str, list[PartRecord]] = {}
    for record in measurements:
        by_characteristic.setdefault(record.characteristic, []).append(record)
    wanted = set(required)
    verdicts = []
    for characteristic in dict.fromkeys([*required, *by_characteristic]):
        found = by_characteristic.get(characteristic, [])
        latest = found[-1] if found else None
        if latest is None:
            status = Result.NOT_MEASURED
        elif altered is not None and altered(latest):
            status = Result.ALTERED
        else:
            status = Result.PASSED if latest.passed else Result.FAILED
        verdicts.append(
            CharacteristicVerdict(
                characteristic=characteristic,
                required=characteristic in wanted,
                status=status,
                latest=latest,
                superseded=tuple(found[:-1]),
            )
        )
    if attested:
        verdicts.insert(0, attested_print(records, altered))
    return PartVerdict(tuple(verdicts))
