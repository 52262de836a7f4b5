"""An order's production at a glance (printshops/selectors/overview.py), from parts' records
as the timelines hold them: how far each part got, the matrix of verdicts with retests, what
counts as failing and what is only pending, and the charts' series."""

from __future__ import annotations

from typing import Any

from ledger.services.verification import AnchorState
from printshops.models import PartRecord
from printshops.quality import part_verdict
from printshops.selectors.overview import production_overview
from printshops.selectors.production import PartTimeline, TimelineEntry

K = PartRecord.Kind
HOLE, LENGTH = "Hole diameter", "Overall length"
REQUIRED = [HOLE, LENGTH]


def measured(characteristic: str, value: str, nominal: str = "3.20") -> Record:
    passed = abs(float(value) - float(nominal)) <= 0.05
    data = {
        "measured": value, "nominal": nominal, "tolerance_plus": "0.05",
        "tolerance_minus": "0.05", "unit": "mm", "passed": passed,
        "characteristic": characteristic,
    }  # fmt: skip
    return K.QUALITY, data


Record = tuple[str, dict[str, Any]]


def part(serial: str, *records: Record) -> PartTimeline:
    """A part's timeline of `records` (kind, data), numbered in order, none altered."""
    timeline = PartTimeline(serial)
    for seq, (kind, data) in enumerate(records, start=1):
        record = PartRecord(
            part_serial=serial, seq=seq, kind=kind, data=data,
            characteristic=data.get("characteristic", ""), passed=data.get("passed"),
        )  # fmt: skip
        timeline.entries.append(TimelineEntry(record, AnchorState("waiting"), altered=False))
    timeline.verdict = part_verdict([entry.record for entry in timeline.entries], required=REQUIRED)
    return timeline


def test_the_overview_counts_stages_passes_failures_and_retests() -> None:
    started: Record = (K.PRINT_STARTED, {})
    finished: Record = (K.PRINT_FINISHED, {})
    shipped: Record = (K.SHIPPED, {})
    timelines = [
        part("P-1", started, finished, measured(HOLE, "3.21"), measured(LENGTH, "3.20"), shipped),
        # failed, then passed at its retest
        part(
            "P-2",
            started,
            finished,
            measured(HOLE, "3.30"),
            measured(HOLE, "3.22"),
            measured(LENGTH, "3.19"),
        ),
        part("P-3", started, finished, measured(HOLE, "3.40")),  # fails, length not measured
        part("P-4", started),  # printing: nothing measured yet
        part("P-5"),  # ticketed only
    ]
    overview = production_overview(timelines)
    assert overview.characteristics == REQUIRED
    assert overview.stages == [("Started", 4), ("Printed", 3), ("Measured", 3), ("Shipped", 1)]
    assert [row.stage for row in overview.rows] == [
        "Shipped", "Measured", "Measured", "Started", "Ticketed",
    ]  # fmt: skip
    assert (overview.passed, overview.failed, overview.retests) == (2, 1, 1)
    # the matrix: each cell is the characteristic's verdict, decided by its latest measurement
    statuses = [[cell.status if cell else None for _, cell in row.cells] for row in overview.rows]
    assert statuses == [
        ["pass", "pass"], ["pass", "pass"], ["fail", "not measured"],
        ["not measured", "not measured"], ["not measured", "not measured"],
    ]  # fmt: skip
    assert [name for name, _ in overview.rows[1].cells] == REQUIRED
    # nothing measured fails on P-4 and P-5: pending, not failing
    assert [row.part.verdict.pending for row in overview.rows if row.part.verdict] == [
        False, False, False, True, True,
    ]  # fmt: skip
    # the charts: one per measured characteristic, the deciding value by pass or fail, the
    # superseded one, and the band
    hole = overview.charts[0]
    assert hole["characteristic"] == HOLE and hole["unit"] == "mm"
    assert hole["parts"] == ["P-1", "P-2", "P-3", "P-4", "P-5"]
    assert hole["passed"] == [3.21, 3.22, None, None, None]
    assert hole["failed"] == [None, None, 3.4, None, None]
    assert hole["superseded"] == [None, 3.3, None, None, None]
    assert hole["upper"][:3] == [3.25] * 3 and hole["lower"][:3] == [3.15] * 3
    assert hole["upper"][3:] == [None, None]  # no measurement, no band


def test_no_measurement_no_chart_and_no_parts_no_overview() -> None:
    overview = production_overview([part("P-1", (K.PRINT_STARTED, {}))])
    assert overview.charts == [] and overview.passed == 0 and overview.failed == 0
    assert production_overview([]).rows == []
