"""Measurement sheets for ``printfair report csv``: a CSV read and checked row by row (every bad
row named by line and column before anything is sent), and the rows PrintFair already holds
recognised, so that the same sheet can be sent again after a refusal or a lost answer."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from printfair.cli.commands.report.checks import evidence_problem, parse_time, problem_lines
from printfair.cli.errors import CliError, UsageError
from printfair.production import QUALITY, TEXT_MAX, RecordInvalid, validate_quality

__all__ = [
    "CSV_OPTIONAL",
    "CSV_QUALITY_FIELDS",
    "CSV_REQUIRED",
    "Measurement",
    "line_ranges",
    "match_recorded",
    "measurement_key",
    "read_measurements",
]

# The CSV's columns: these must be there, plus `tolerance` or both split tolerances.
CSV_REQUIRED: Final = ("part_serial", "characteristic", "nominal", "measured", "instrument")
CSV_OPTIONAL: Final = (
    "tolerance",
    "tolerance_minus",
    "tolerance_plus",
    "unit",
    "occurred_at",
    "evidence",
)
# The quality fields of a row, sent as given (PrintFair normalises them as validate_quality does).
CSV_QUALITY_FIELDS: Final = (
    "characteristic",
    "nominal",
    "tolerance",
    "tolerance_minus",
    "tolerance_plus",
    "measured",
    "unit",
    "instrument",
)


@dataclass
class Measurement:
    """One checked row of a measurements CSV."""

    line: int
    part_serial: str
    fields: dict[str, str]  # the quality fields given (non-empty), sent as they are
    clean: dict[str, str | bool]  # as validate_quality normalised them
    occurred_at: datetime | None
    evidence: list[Path] = field(default_factory=list)

    def key(self) -> tuple[Any, ...]:
        return measurement_key(self.part_serial, self.clean)


def measurement_key(part_serial: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two measurements the same one (numbers compared by value, so 10.05 is
    10.050); KeyError or InvalidOperation for data that is not a quality record's."""
    return (
        part_serial,
        str(data["characteristic"]),
        str(data.get("unit") or "mm"),
        str(data["instrument"]),
        *(
            Decimal(str(data[name]))
            for name in ("nominal", "tolerance_minus", "tolerance_plus", "measured")
        ),
    )


def _delimiter(header_line: str) -> str:
    # Spreadsheets in many locales write ';' or tabs; the header row says which.
    for candidate in (",", "\t", ";"):
        if candidate in header_line:
            return candidate
    return ","


def read_measurements(
    path: Path, *, evidence_dir: Path | None = None, now: datetime | None = None
) -> list[Measurement]:
    """Every row of the CSV at ``path``, checked; a CliError listing every bad row (line and
    column) when any is wrong, so that nothing is sent from a file with a mistake in it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text: save the CSV as UTF-8") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = text.splitlines(keepends=True)
    if not lines:
        raise CliError(f"{path} is empty: it needs a header row and one row per measurement")
    reader = csv.reader(lines, delimiter=_delimiter(lines[0]))
    header = [name.strip().lower() for name in next(reader)]
    _check_header(path, header)
    folder = evidence_dir if evidence_dir is not None else path.parent
    rows: list[Measurement] = []
    problems: list[str] = []
    bad_lines: set[int] = set()
    last = reader.line_num
    for cells in reader:
        line, last = last + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            bad_lines.add(line)
            problems.append(f"line {line}: {len(cells)} cells, but the header has {len(header)}")
            continue
        row = dict(zip(header, (cell.strip() for cell in cells), strict=True))
        measurement, row_problems = _measurement(line, row, folder, now)
        if measurement is not None:
            rows.append(measurement)
        if row_problems:
            bad_lines.add(line)
        problems.extend(f"line {line}: {problem}" for problem in row_problems)
    if problems:
        count = len(bad_lines)
        raise CliError(
            f"{path} has {count} bad row{'s' if count != 1 else ''}; nothing was sent",
            details=problems,
        )
    if not rows:
        raise CliError(f"{path} has no measurements: only a header row")
    return rows


def _check_header(path: Path, header: Sequence[str]) -> None:
    problems = []
    known = set(CSV_REQUIRED) | set(CSV_OPTIONAL)
    unknown = [name for name in header if name not in known]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(n) for n in unknown)}: the columns are "
            f"{', '.join(CSV_REQUIRED + CSV_OPTIONAL)}"
        )
    doubled = sorted({name for name in header if header.count(name) > 1})
    if doubled:
        problems.append(f"column(s) given twice: {', '.join(doubled)}")
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if "tolerance" not in header and not {"tolerance_minus", "tolerance_plus"} <= set(header):
        problems.append("give a tolerance column, or tolerance_minus and tolerance_plus")
    if problems:
        raise CliError(f"the header row of {path} is not right; nothing was sent", details=problems)


def _measurement(
    line: int, row: Mapping[str, str], folder: Path, now: datetime | None
) -> tuple[Measurement | None, list[str]]:
    problems = []
    serial = row.get("part_serial", "")
    if not serial:
        problems.append("part_serial: This field is required.")
    elif len(serial) > TEXT_MAX:
        problems.append(f"part_serial: At most {TEXT_MAX} characters.")
    fields = {name: row[name] for name in CSV_QUALITY_FIELDS if row.get(name)}
    clean: dict[str, str | bool] = {}
    try:
        clean = validate_quality(fields)
    except RecordInvalid as exc:
        problems.extend(problem_lines(exc, {}))
    when = None
    if row.get("occurred_at"):
        try:
            when = parse_time(row["occurred_at"], now=now)
        except argparse.ArgumentTypeError as exc:
            problems.append(f"occurred_at: {exc}")
    evidence = []
    for name in (row.get("evidence") or "").split(";"):
        if name.strip():
            path = folder / name.strip()
            problem = evidence_problem(path)
            if problem:
                problems.append(f"evidence: {problem}")
            evidence.append(path)
    if problems:
        return None, problems
    return Measurement(line, serial, fields, clean, when, evidence), []


def match_recorded(
    rows: Sequence[Measurement], records: Iterable[Mapping[str, Any]]
) -> dict[int, Mapping[str, Any]]:
    """Which rows PrintFair already holds (line -> its record), so that running the same file
    again sends only the rest.

    A row matches an unclaimed quality record of the same part with the same characteristic,
    unit, instrument, nominal, tolerances and measured value, and the same time if the row
    gives one (a row without occurred_at got the time it was sent, so any time matches). Each
    record matches one row at most, rows with a time first: a file that lists the same
    measurement twice records it twice.
    """
    pool: dict[tuple[Any, ...], list[tuple[datetime | None, Mapping[str, Any]]]] = {}
    for record in records:
        if record.get("kind") != QUALITY:
            continue
        try:
            key = measurement_key(str(record["part_serial"]), record["data"])
        except (KeyError, TypeError, InvalidOperation):
            continue
        try:
            when: datetime | None = datetime.fromisoformat(str(record["occurred_at"]))
        except (KeyError, ValueError):
            when = None
        pool.setdefault(key, []).append((when, record))
    matched: dict[int, Mapping[str, Any]] = {}
    for timed in (True, False):
        for row in rows:
            if (row.occurred_at is not None) != timed:
                continue
            candidates = pool.get(row.key(), [])
            for index, (when, record) in enumerate(candidates):
                if row.occurred_at is None or when == row.occurred_at:
                    matched[row.line] = record
                    del candidates[index]
                    break
    return matched


def line_ranges(lines: Iterable[int]) -> str:
    """``2-4, 7, 9-10`` for lines 2, 3, 4, 7, 9 and 10."""
    spans: list[list[int]] = []
    for line in sorted(lines):
        if spans and line == spans[-1][1] + 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
