"""An order's production at a glance, from its parts' timelines (production.py): how far each
part got, the matrix of parts by characteristics (each part's verdict per characteristic, from
`part_verdict`, retests marked), and the measurements against their tolerance bands for the
charts. What the job page and the shop's order page show above the records themselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from printshops.models import PartRecord
from printshops.quality import MACHINE_ATTESTED, CharacteristicVerdict, Result
from printshops.selectors.production import PartTimeline

#: How far a part got, in order; a record of a kind counts for its stage and every one before.
STAGES = ("Started", "Printed", "Measured", "Shipped")
_STAGE_OF: dict[str, int] = {
    PartRecord.Kind.PRINT_STARTED: 1,
    PartRecord.Kind.PRINT_FINISHED: 2,
    PartRecord.Kind.POST_PROCESSING: 2,
    PartRecord.Kind.INSPECTION: 3,
    PartRecord.Kind.QUALITY: 3,
    PartRecord.Kind.PACKED: 3,
    PartRecord.Kind.SHIPPED: 4,
    PartRecord.Kind.DELIVERED: 4,
}


@dataclass(frozen=True)
class OverviewRow:
    part: PartTimeline
    #: The part's verdict per characteristic, in the overview's order, by name (None: not
    #: measured and not required).
    cells: list[tuple[str, CharacteristicVerdict | None]]
    #: How far it got: "Ticketed" or one of STAGES.
    stage: str


@dataclass(frozen=True)
class ProductionOverview:
    characteristics: list[str]
    rows: list[OverviewRow]
    #: Each stage with the parts that reached it (or went further).
    stages: list[tuple[str, int]]
    #: Parts whose every characteristic passes (of those measured or required).
    passed: int
    #: Parts whose latest measurement of some characteristic fails (or is altered).
    failed: int
    #: One chart per measured characteristic: what static/js/production.js draws.
    charts: list[dict[str, Any]]

    @property
    def tampered(self) -> bool:
        """Whether records of some part were changed or removed after they were anchored."""
        return any(row.part.failing for row in self.rows)

    @property
    def retests(self) -> int:
        return sum(row.part.verdict.superseded for row in self.rows if row.part.verdict)


def production_overview(timelines: Sequence[PartTimeline]) -> ProductionOverview:
    """The overview of an order's parts (order_part_timelines)."""
    verdicts = [part.verdict.characteristics if part.verdict else () for part in timelines]
    characteristics = list(dict.fromkeys(c.characteristic for items in verdicts for c in items))
    rows, reached = [], [0] * len(STAGES)
    for part, items in zip(timelines, verdicts, strict=True):
        by_name = {c.characteristic: c for c in items}
        stage = max((_STAGE_OF.get(str(e.record.kind), 0) for e in part.entries), default=0)
        for index in range(stage):
            reached[index] += 1
        rows.append(
            OverviewRow(
                part=part,
                cells=[(name, by_name.get(name)) for name in characteristics],
                stage=STAGES[stage - 1] if stage else "Ticketed",
            )
        )
    bad = (Result.FAILED, Result.ALTERED)
    return ProductionOverview(
        characteristics=characteristics,
        rows=rows,
        stages=list(zip(STAGES, reached, strict=True)),
        passed=sum(1 for part in timelines if part.verdict and part.verdict.passed),
        failed=sum(1 for items in verdicts if any(c.status in bad for c in items)),
        charts=[
            chart
            for column, name in enumerate(characteristics)
            if name != MACHINE_ATTESTED and (chart := _chart(rows, column))
        ],
    )


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def _chart(rows: list[OverviewRow], column: int) -> dict[str, Any] | None:
    """One characteristic's measurements part by part: the deciding one (passing or not), the
    latest one a retest superseded, and the tolerance band each was judged against. None when
    no part has a measurement of it."""
    chart: dict[str, Any] = {
        "characteristic": rows[0].cells[column][0], "unit": "", "parts": [], "passed": [],
        "failed": [], "superseded": [], "upper": [], "nominal": [], "lower": [],
    }  # fmt: skip
    for row in rows:
        cell = row.cells[column][1]
        latest = cell.latest if cell is not None else None
        data = latest.data if latest is not None else {}
        measured, nominal = _decimal(data.get("measured")), _decimal(data.get("nominal"))
        plus, minus = _decimal(data.get("tolerance_plus")), _decimal(data.get("tolerance_minus"))
        earlier = cell.superseded[-1].data.get("measured") if cell and cell.superseded else None
        chart["unit"] = chart["unit"] or data.get("unit", "")
        chart["parts"].append(row.part.part_serial)
        passing = cell is not None and cell.status == Result.PASSED
        chart["passed"].append(_float(measured) if passing else None)
        chart["failed"].append(_float(measured) if latest is not None and not passing else None)
        chart["superseded"].append(_float(_decimal(earlier)))
        chart["nominal"].append(_float(nominal))
        # The band in decimal arithmetic, as the measurement was judged (3.2 - 0.05 is 3.15).
        band = nominal is not None and plus is not None and minus is not None
        chart["upper"].append(_float(nominal + plus) if band else None)  # type: ignore[operator]
        chart["lower"].append(_float(nominal - minus) if band else None)  # type: ignore[operator]
    measured_any = any(v is not None for v in chart["passed"] + chart["failed"])
    return chart if measured_any else None
