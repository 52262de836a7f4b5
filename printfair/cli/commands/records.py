"""``printfair records JOB [--serial S]``: a won job's part records (production events and
quality measurements) with their anchoring state, then the job's quality gate: whether enough
parts have a passing, anchored and final measurement of every characteristic the job requires
(delivery and acceptance wait for it)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.output import format_time, shorten, table
from printfair.production import QUALITY

if TYPE_CHECKING:
    from printfair.cli.context import Context

__all__ = ["gate_lines", "summary"]

SUMMARY_WIDTH = 52
# Short labels for the table: the column is narrow.
LABELS = {"material_lot": "lot", "tracking_number": "tracking"}


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    records = subparsers.add_parser(
        "records",
        parents=parents,
        help="list a won job's production events and quality records, and its quality gate",
        description="List the part records of JOB (production events and quality "
        "measurements, by part and number) with their anchoring state (waiting for a batch, "
        "sent, included in a block, final), then the job's quality gate.",
    )
    records.add_argument("job", type=job_id, help="the job's id")
    records.add_argument("--serial", metavar="S", help="only this part's records")
    add_json_flag(records)
    records.set_defaults(handler=list_records)


def summary(record: Mapping[str, Any]) -> str:
    """One line for people of what a record says (the table's summary column)."""
    data: Mapping[str, Any] = record.get("data") or {}
    kind = record.get("kind")
    if kind == QUALITY:
        unit = data.get("unit") or ""
        minus, plus = data.get("tolerance_minus"), data.get("tolerance_plus")
        band = f"±{plus}" if minus == plus else f"-{minus}/+{plus}"
        text = (
            f"{data.get('characteristic')} {data.get('measured')} {unit} "
            f"({data.get('nominal')} {band})"
        )
    else:
        parts = []
        for name, value in data.items():
            if name == "note":
                continue
            label = LABELS.get(name, name.replace("_", " "))
            parts.append(str(value) if name in ("outcome", "step") else f"{label} {value}")
        if data.get("note"):
            parts.append(f"“{data['note']}”")
        text = ", ".join(parts)
    files = len(record.get("evidence") or [])
    if files:
        text += f" +{files} file{'s' if files != 1 else ''}"
    return " ".join(text.split()) or "-"


def _result(record: Mapping[str, Any]) -> str:
    if record.get("kind") != QUALITY or record.get("passed") is None:
        return "-"
    return "PASS" if record["passed"] else "FAIL"


def gate_lines(gate: Mapping[str, Any], *, serial: str | None = None) -> list[str]:
    """The quality gate for people: met or not, and what each part still lacks (only part
    ``serial``'s when given)."""
    required: Sequence[str] = gate.get("required") or []
    if not required:
        return ["Quality gate: none (the job requires no measured characteristics)."]
    passing, needed = gate.get("passing", 0), gate.get("needed", 0)
    what = ", ".join(required)
    if gate.get("met"):
        head = f"Quality gate met: {passing} of the {needed} parts needed pass {what}."
    else:
        head = (
            f"Quality gate not met: {passing} of the {needed} parts needed have a passing, "
            f"anchored and final record of {what}."
        )
    lines = [head]
    for part in gate.get("parts") or []:
        if serial is not None and part.get("part_serial") != serial:
            continue
        problems: Mapping[str, str] = part.get("problems") or {}
        if problems:
            lacking = "; ".join(f"{name}: {text}" for name, text in problems.items())
            lines.append(f"  part {part.get('part_serial')}  {lacking}")
    return lines


def list_records(ctx: Context, args: argparse.Namespace) -> int:
    job, serial = args.job, args.serial
    params = {"part_serial": serial} if serial else None
    records = list(ctx.api.paginate(f"jobs/{job}/records/", params))
    gate = ctx.api.get(f"jobs/{job}/quality-gate/")
    if args.json:
        ctx.emit_json({"records": records, "quality_gate": gate})
        return 0
    if not records:
        ctx.say(
            f"No records for part {serial} of job {job} yet."
            if serial
            else f"No records for job {job} yet."
        )
    else:
        rows = [
            [
                shorten(str(r.get("part_serial")), 20),
                str(r.get("seq")),
                str(r.get("kind")),
                format_time(r.get("occurred_at")),
                shorten(summary(r), SUMMARY_WIDTH),
                _result(r),
                str((r.get("anchor") or {}).get("state", "-")),
            ]
            for r in records
        ]
        ctx.say(*table(["part", "#", "kind", "when", "summary", "result", "anchoring"], rows))
    if isinstance(gate, Mapping):
        ctx.say("", *gate_lines(gate, serial=serial))
    return 0
