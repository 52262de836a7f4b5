"""A part's verdict (printshops/quality.py), the one the quality gate, certificates and the public
verification page all state: per characteristic the latest measurement by the part's own
numbering decides, earlier ones are kept as superseded by the retest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printshops.models import PartRecord
from printshops.quality import Result, part_verdict

AT = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def quality(seq: int, characteristic: str, measured: str, *, passed: bool) -> PartRecord:
    return PartRecord(
        part_serial="P-1",
        seq=seq,
        kind=PartRecord.Kind.QUALITY,
        characteristic=characteristic,
        passed=passed,
        occurred_at=AT + timedelta(hours=seq),
        data={"characteristic": characteristic, "measured": measured, "unit": "mm"},
    )


def event(seq: int, kind: str = PartRecord.Kind.SHIPPED) -> PartRecord:
    return PartRecord(part_serial="P-1", seq=seq, kind=kind, occurred_at=AT, data={})


def test_a_passing_retest_after_a_failure_passes_and_keeps_the_failure_as_superseded() -> None:
    failed = quality(2, "Hole diameter", "3.30", passed=False)
    retest = quality(3, "Hole diameter", "3.22", passed=True)
    length = quality(4, "Overall length", "42.00", passed=True)

    verdict = part_verdict([event(1), length, retest, failed], required=["Hole diameter"])

    assert verdict.status == Result.PASSED and verdict.passed
    hole, other = verdict.characteristics
    assert (hole.characteristic, hole.status, hole.required) == ("Hole diameter", "pass", True)
    assert hole.latest is retest and hole.superseded == (failed,)
    assert (other.characteristic, other.status, other.required) == ("Overall length", "pass", False)
    assert verdict.superseded == 1 and verdict.superseded_ids == {str(failed.pk)}


def test_a_failing_retest_after_a_pass_fails() -> None:
    passed = quality(1, "Hole diameter", "3.22", passed=True)
    failed = quality(2, "Hole diameter", "3.30", passed=False)

    verdict = part_verdict([passed, failed], required=["Hole diameter"])

    assert verdict.status == Result.FAILED
    [hole] = verdict.not_passing
    assert hole.latest is failed and hole.superseded == (passed,)


def test_the_parts_numbering_decides_never_the_time_a_record_claims() -> None:
    # given: the retest (number 2) claims a time before the first measurement
    first = quality(1, "Hole diameter", "3.30", passed=False)
    backdated = quality(2, "Hole diameter", "3.22", passed=True)
    backdated.occurred_at = first.occurred_at - timedelta(days=1)

    assert part_verdict([backdated, first]).characteristics[0].latest is backdated


def test_a_required_characteristic_not_measured_fails_and_so_does_any_other_failing_one() -> None:
    hole = quality(1, "Hole diameter", "3.22", passed=True)
    surface = quality(2, "Surface roughness", "3.9", passed=False)

    missing = part_verdict([hole], required=["Overall length", "Hole diameter"])
    other = part_verdict([hole, surface], required=["Hole diameter"])

    # required characteristics first, in the job's order
    assert [(c.characteristic, c.status) for c in missing.characteristics] == [
        ("Overall length", "not measured"),
        ("Hole diameter", "pass"),
    ]
    assert missing.status == Result.FAILED and missing.characteristics[0].latest is None
    assert other.status == Result.FAILED
    assert [c.characteristic for c in other.not_passing] == ["Surface roughness"]


def test_a_latest_measurement_changed_since_anchoring_decides_nothing() -> None:
    failed = quality(1, "Hole diameter", "3.30", passed=False)
    improved = quality(2, "Hole diameter", "3.22", passed=True)

    verdict = part_verdict([failed, improved], altered=lambda record: record is improved)

    assert verdict.status == Result.FAILED
    assert verdict.characteristics[0].status == Result.ALTERED


def test_nothing_measured_and_nothing_required_is_no_verdict() -> None:
    verdict = part_verdict([event(1, PartRecord.Kind.PRINT_STARTED), event(2)])

    assert verdict.status == Result.NO_MEASUREMENTS and not verdict.passed


def test_records_of_two_parts_are_refused() -> None:
    other = quality(1, "Hole diameter", "3.22", passed=True)
    other.part_serial = "P-2"

    with pytest.raises(ValueError, match="more than one part"):
        part_verdict([quality(1, "Hole diameter", "3.22", passed=True), other])
