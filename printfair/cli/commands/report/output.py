"""What ``printfair report`` says: a record made, a measurement against its limits, a sheet's
summary, and why a sheet's run stopped (with what was recorded before it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printfair.cli.commands.report.sheet import Measurement, line_ranges
from printfair.cli.errors import CliError

if TYPE_CHECKING:
    from printfair.cli.context import Context

__all__ = ["format_limits", "recorded_line", "stopped_error", "summarise", "verdict"]


def recorded_line(record: Mapping[str, Any], job: int) -> str:
    anchor = record.get("anchor") or {}
    return (
        f"Recorded {record['kind']} #{record['seq']} for part {record['part_serial']} of job "
        f"{job} (record {record['id']}): anchoring {anchor.get('state', 'waiting')}."
    )


def format_limits(data: Mapping[str, Any]) -> str:
    """``measured 10.03 mm, limits 9.95 .. 10.05 mm (nominal 10.00 ±0.05)`` from a quality
    record's normalised data."""
    unit = str(data.get("unit") or "mm")
    try:
        nominal = Decimal(str(data["nominal"]))
        minus = Decimal(str(data["tolerance_minus"]))
        plus = Decimal(str(data["tolerance_plus"]))
    except (KeyError, InvalidOperation):
        return f"measured {data.get('measured')} {unit}"
    band = f"±{plus}" if minus == plus else f"-{minus}/+{plus}"
    return (
        f"measured {data.get('measured')} {unit}, limits {nominal - minus} .. {nominal + plus} "
        f"{unit} (nominal {nominal} {band})"
    )


def verdict(passed: Any) -> str:
    return "PASS" if passed else "FAIL"


def stopped_error(
    exc: CliError,
    rows: Sequence[Measurement],
    recorded: Sequence[Measurement],
    skipped: Sequence[int],
    path: Path,
) -> CliError:
    from printfair.cli.api import AnswerLost

    lines = line_ranges(row.line for row in rows)
    which = f"line {lines}" if len(rows) == 1 else f"lines {lines}"
    if isinstance(exc, AnswerLost):
        message = f"{which} may or may not have been recorded: {exc.message}"
    else:
        message = f"{which} {'was' if len(rows) == 1 else 'were'} refused: {exc.message}"
    done = (
        f"Recorded before it: line {line_ranges(r.line for r in recorded)} "
        f"({len(recorded)} row{'s' if len(recorded) != 1 else ''})."
        if recorded
        else "Nothing was recorded from this run."
    )
    details = [*exc.details, done]
    if skipped:
        details.append(f"Already recorded before this run: line {line_ranges(skipped)}.")
    details.append(
        f"Run the same command again once fixed: the rows of {path.name} already recorded are "
        "skipped."
    )
    error = CliError(message, details=details)
    error.exit_code = exc.exit_code
    return error


def summarise(
    ctx: Context,
    job: int,
    path: Path,
    recorded: Sequence[tuple[Measurement, Mapping[str, Any]]],
    skipped: Mapping[int, Mapping[str, Any]],
) -> None:
    if not recorded:
        ctx.say(
            f"Nothing to send: all {len(skipped)} rows of {path} are already recorded "
            f"(line {line_ranges(skipped)})."
        )
        return
    failed = [(row, record) for row, record in recorded if not record.get("passed")]
    states: dict[str, int] = {}
    for _, record in recorded:
        state = str((record.get("anchor") or {}).get("state", "waiting"))
        states[state] = states.get(state, 0) + 1
    count = len(recorded)
    ctx.say(
        f"Recorded {count} quality measurement{'s' if count != 1 else ''} for job {job} from "
        f"{path}: {count - len(failed)} PASS, {len(failed)} FAIL; anchoring "
        + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        + "."
    )
    for row, record in failed:
        ctx.say(
            f"  FAIL  line {row.line}: part {row.part_serial}, {row.clean['characteristic']} "
            f"{format_limits(record.get('data') or row.clean)} (record {record.get('id')})"
        )
    if skipped:
        ctx.say(
            f"Skipped {len(skipped)} row{'s' if len(skipped) != 1 else ''} already recorded: "
            f"line {line_ranges(skipped)}."
        )
