"""``printfair report event|quality|csv``: a won job's production events and quality
measurements, per part serial (DESIGN.md section 3 step 9).

Everything is checked here first with the functions the server uses (printfair/production.py),
so a mistake is a usage error naming the option (or the CSV line and column) before anything is
sent. Evidence files are uploaded first; each record then cites them by id, and PrintFair puts
their SHA-256 into the record it anchors.

``report csv`` sends many measurements at once and can be run again after a refusal or a lost
answer: the rows PrintFair already holds are recognised and skipped (see ``match_recorded``).
"""

from __future__ import annotations

import argparse
import csv
import mimetypes
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.errors import CliError, UsageError
from printfair.production import (
    EVENT_KINDS,
    QUALITY,
    QUALITY_BATCH_MAX,
    TEXT_MAX,
    RecordInvalid,
    batch_entry_named,
    validate_event,
    validate_quality,
    without_batch_entry_label,
)

if TYPE_CHECKING:
    from printfair.cli.api import ApiClient, ApiError
    from printfair.cli.context import Context

__all__ = [
    "EVIDENCE_MAX_BYTES",
    "Measurement",
    "RowProgress",
    "format_limits",
    "line_ranges",
    "match_recorded",
    "parse_time",
    "read_measurements",
]

# PrintFair's limit on an evidence file (marketplace/services/common.py), checked here before
# anything is uploaded.
EVIDENCE_MAX_BYTES: Final = 20 * 1024 * 1024
# How far ahead of this machine's clock a reported time may be (PrintFair allows as much).
CLOCK_SKEW: Final = timedelta(minutes=5)
TIME_EXAMPLE: Final = "e.g. 2026-05-01T09:30:00+02:00 or 2026-05-01T07:30Z"

# Every production event field, as the option that gives it (`material_lot` -> --material-lot).
EVENT_FIELDS: Final[dict[str, str]] = {
    spec.name: "--" + spec.name.replace("_", "-")
    for specs in EVENT_KINDS.values()
    for spec in specs
}
EVENT_METAVARS: Final = {
    "material_lot": "LOT",
    "inspector": "NAME",
    "tracking_number": "NUMBER",
    "received_by": "NAME",
    "note": "TEXT",
}
QUALITY_OPTIONS: Final[dict[str, str]] = {
    name: "--" + name.replace("_", "-")
    for name in (
        "characteristic",
        "nominal",
        "tolerance",
        "tolerance_minus",
        "tolerance_plus",
        "measured",
        "unit",
        "instrument",
        "passed",
    )
}

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
TTY_INTERVAL: Final = 0.1
PLAIN_INTERVAL: Final = 5.0
# Rows of a CSV sent in one request to POST jobs/{id}/quality/batch/ (PrintFair takes up to
# QUALITY_BATCH_MAX): a large sheet goes up in a few requests, and the progress line still moves.
CSV_BATCH: Final = min(100, QUALITY_BATCH_MAX)


def _kinds_epilog() -> str:
    lines = ["kinds and their options (* required):"]
    for kind, specs in EVENT_KINDS.items():
        options = ", ".join(
            EVENT_FIELDS[spec.name] + ("*" if spec.required else "") for spec in specs
        )
        lines.append(f"  {kind:<16} {options}")
    return "\n".join(lines)


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    report = subparsers.add_parser(
        "report",
        parents=parents,
        help="report production events and quality measurements of a won job's parts",
        description="Report what happened to each part of a won job (production events) and "
        "what was measured (quality records). Each record is numbered per part and anchored on "
        "chain; the part needs a print ticket first.",
    )
    actions = report.add_subparsers(title="actions", metavar="ACTION", required=True)

    event = actions.add_parser(
        "event",
        parents=parents,
        help="report a production event of a part",
        description="Report a production event of part SERIAL of JOB: KIND says which, and "
        "takes the options listed below.",
        epilog=_kinds_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    event.add_argument("job", type=job_id, help="the job's id")
    event.add_argument("serial", help="the part's serial number (it needs a print ticket)")
    event.add_argument(
        "kind", choices=list(EVENT_KINDS), metavar="KIND", help=", ".join(EVENT_KINDS)
    )
    helps: dict[str, str] = {}
    for specs in EVENT_KINDS.values():
        for spec in specs:
            helps.setdefault(
                spec.name, spec.help + (f" ({', '.join(spec.choices)})" if spec.choices else "")
            )
    for name, option in EVENT_FIELDS.items():
        metavar = EVENT_METAVARS.get(name, name.upper())
        event.add_argument(option, dest=name, metavar=metavar, help=helps[name])
    _record_options(event)
    event.set_defaults(handler=report_event)

    quality = actions.add_parser(
        "quality",
        parents=parents,
        help="report a quality measurement of a part",
        description="Report a measurement of part SERIAL of JOB. PrintFair judges it against "
        "the tolerance, both ends included: give --tolerance for a symmetric one (±), or "
        "--tolerance-minus and --tolerance-plus (each the amount below or above nominal).",
    )
    quality.add_argument("job", type=job_id, help="the job's id")
    quality.add_argument("serial", help="the part's serial number (it needs a print ticket)")
    quality.add_argument(
        "--characteristic", required=True, help="what was measured, e.g. 'bore diameter'"
    )
    quality.add_argument("--nominal", required=True, metavar="VALUE", help="the nominal value")
    quality.add_argument("--tolerance", metavar="AMOUNT", help="± this amount around nominal")
    quality.add_argument("--tolerance-minus", metavar="AMOUNT", help="this amount below nominal")
    quality.add_argument("--tolerance-plus", metavar="AMOUNT", help="this amount above nominal")
    quality.add_argument("--measured", required=True, metavar="VALUE", help="the value measured")
    quality.add_argument("--unit", help="the values' unit (default mm)")
    quality.add_argument("--instrument", required=True, help="the instrument used")
    _record_options(quality)
    quality.set_defaults(handler=report_quality)

    from_csv = actions.add_parser(
        "csv",
        parents=parents,
        help="report many quality measurements from a CSV file",
        description="Report the quality measurements in FILE, a CSV with a header row: "
        "part_serial, characteristic, nominal, tolerance (or tolerance_minus and "
        "tolerance_plus), measured, instrument, and optionally unit (default mm), occurred_at "
        "(ISO 8601 with offset; default: when sent) and evidence (file names separated by ';'). "
        "Every row is checked before anything is sent. Rows PrintFair already holds are "
        "skipped, so the same command can be run again after a refusal.",
    )
    from_csv.add_argument("job", type=job_id, help="the job's id")
    from_csv.add_argument("file", type=Path, help="the CSV file")
    from_csv.add_argument(
        "--evidence-dir",
        type=Path,
        metavar="DIR",
        help="where the evidence column's files are (default: the CSV's folder)",
    )
    from_csv.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display on stderr"
    )
    add_json_flag(from_csv)
    from_csv.set_defaults(handler=report_csv)


def _record_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--at",
        type=parse_time,
        metavar="ISO8601",
        help=f"when it happened, with its UTC offset ({TIME_EXAMPLE}); default now",
    )
    parser.add_argument(
        "--evidence",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a photo (JPEG, PNG, WebP), PDF or text/CSV file to attach (repeat for more)",
    )
    add_json_flag(parser)


# --- checks -------------------------------------------------------------------------------


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with its UTC offset, not in the future (argparse's type for ``--at``)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time ({TIME_EXAMPLE})"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: give one ({TIME_EXAMPLE})")
    if when > (now or datetime.now(UTC)) + CLOCK_SKEW:
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return when


def evidence_problem(path: Path) -> str | None:
    """Why ``path`` cannot be sent as evidence, or None."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if not path.is_file():
        return f"{path} is not a file"
    if size == 0:
        return f"{path} is empty"
    if size > EVIDENCE_MAX_BYTES:
        return f"{path} is larger than {EVIDENCE_MAX_BYTES >> 20} MiB, PrintFair's limit"
    return None


def _check_evidence(paths: Sequence[Path]) -> None:
    problems = [problem for path in paths if (problem := evidence_problem(path))]
    if problems:
        raise UsageError("--evidence: " + problems[0], details=problems[1:])


def _problem_lines(exc: RecordInvalid, names: Mapping[str, str]) -> list[str]:
    return [f"{names.get(name, name)}: {' '.join(text)}" for name, text in exc.fields.items()]


# --- talking to PrintFair -----------------------------------------------------------------


def upload_evidence(api: ApiClient, job: int, path: Path) -> str:
    """Upload one evidence file; its id on PrintFair."""
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    try:
        with path.open("rb") as handle:
            answer = api.post_file(f"jobs/{job}/evidence/", "file", path.name, handle, content_type)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return str(answer["id"])
    except (KeyError, TypeError):
        raise CliError(f"PrintFair at {api.base_url} did not say which id {path} got") from None


def _post_record(ctx: Context, path: str, body: Mapping[str, Any], serial: str, job: int) -> Any:
    from printfair.cli.api import AnswerLost

    try:
        return ctx.api.post(path, body)
    except AnswerLost as exc:
        raise AnswerLost(
            exc.message,
            details=[
                *exc.details,
                "The record may have been made: check "
                f"`printfair records {job} --serial {serial}` before reporting it again.",
            ],
        ) from None


def _body(
    serial: str, fields: Mapping[str, Any], at: datetime | None, evidence: Sequence[str]
) -> dict[str, Any]:
    body: dict[str, Any] = {"part_serial": serial, **fields, "evidence": list(evidence)}
    if at is not None:
        body["occurred_at"] = at.isoformat()
    return body


# --- output -------------------------------------------------------------------------------


def _recorded(record: Mapping[str, Any], job: int) -> str:
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


def _verdict(passed: Any) -> str:
    return "PASS" if passed else "FAIL"


# --- report event / report quality -------------------------------------------------------


def report_event(ctx: Context, args: argparse.Namespace) -> int:
    kind = str(args.kind)
    takes = {spec.name for spec in EVENT_KINDS[kind]}
    given = {name: getattr(args, name) for name in EVENT_FIELDS if getattr(args, name) is not None}
    stray = [EVENT_FIELDS[name] for name in given if name not in takes]
    if stray:
        raise UsageError(
            f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not apply to a {kind} "
            f"event: it takes {', '.join(EVENT_FIELDS[spec.name] for spec in EVENT_KINDS[kind])}"
        )
    try:
        data = validate_event(kind, given)
    except RecordInvalid as exc:
        raise UsageError(
            f"the {kind} event is not complete", details=_problem_lines(exc, EVENT_FIELDS)
        ) from None
    _check_evidence(args.evidence)
    evidence = [upload_evidence(ctx.api, args.job, path) for path in args.evidence]
    body = _body(args.serial, {"kind": kind, "data": data}, args.at, evidence)
    record = _post_record(ctx, f"jobs/{args.job}/events/", body, args.serial, args.job)
    if args.json:
        ctx.emit_json(record)
    else:
        ctx.say(_recorded(record, args.job))
    return 0


def report_quality(ctx: Context, args: argparse.Namespace) -> int:
    fields = {
        name: getattr(args, name) for name in CSV_QUALITY_FIELDS if getattr(args, name) is not None
    }
    try:
        clean = validate_quality(fields)
    except RecordInvalid as exc:
        raise UsageError(
            "the quality measurement is not valid", details=_problem_lines(exc, QUALITY_OPTIONS)
        ) from None
    _check_evidence(args.evidence)
    evidence = [upload_evidence(ctx.api, args.job, path) for path in args.evidence]
    body = _body(args.serial, fields, args.at, evidence)
    record = _post_record(ctx, f"jobs/{args.job}/quality/", body, args.serial, args.job)
    if args.json:
        ctx.emit_json(record)
        return 0
    passed = record.get("passed")
    if passed is None:
        passed = clean["passed"]
    ctx.say(
        _recorded(record, args.job),
        f"{_verdict(passed)}: {record.get('characteristic') or clean['characteristic']} "
        f"{format_limits(record.get('data') or clean)}.",
    )
    return 0


# --- report csv ---------------------------------------------------------------------------


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
        return _key(self.part_serial, self.clean)


def _key(part_serial: str, data: Mapping[str, Any]) -> tuple[Any, ...]:
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
        problems.extend(_problem_lines(exc, {}))
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
            key = _key(str(record["part_serial"]), record["data"])
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


class RowProgress:
    """Rows sent of the total, on ``stream`` (stderr): one line rewritten in place on a
    terminal, a plain line every few seconds otherwise, nothing when ``quiet``."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.total, self.quiet, self.clock = stream, total, quiet, clock
        try:
            self.tty = not quiet and stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.done = 0
        self.line = 0
        self._shown = clock()
        self._drawn = False
        self._last = ""

    def advance(self, line: int) -> None:
        self.done += 1
        self.line = line
        now = self.clock()
        if now - self._shown >= (TTY_INTERVAL if self.tty else PLAIN_INTERVAL):
            self._shown = now
            self._show(final=False)

    def finish(self) -> None:
        """The last state, and the terminal's line ended (also after a refusal)."""
        if self.done or self._drawn:
            self._show(final=True)

    def _show(self, *, final: bool) -> None:
        if self.quiet:
            return
        text = f"recorded {self.done}/{self.total} measurements (line {self.line})"
        if final and not self.tty and text == self._last:
            return  # a log has this line already
        self._last = text
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
            self._drawn = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def report_csv(ctx: Context, args: argparse.Namespace) -> int:
    job, path = args.job, args.file
    rows = read_measurements(path, evidence_dir=args.evidence_dir)
    api = ctx.api
    ticketed = {str(t.get("part_serial")) for t in api.paginate(f"jobs/{job}/tickets/")}
    unknown: dict[str, list[int]] = {}
    for row in rows:
        if row.part_serial not in ticketed:
            unknown.setdefault(row.part_serial, []).append(row.line)
    if unknown:
        raise CliError(
            f"{path} names parts without a print ticket; nothing was sent",
            details=[
                f"line {line_ranges(lines)}: part_serial: no print ticket names part {serial} "
                f"(`printfair print-ticket {job} --machine … --serial {serial}`)"
                for serial, lines in unknown.items()
            ],
        )
    existing = list(api.paginate(f"jobs/{job}/records/", {"kind": QUALITY}))
    skipped = match_recorded(rows, existing)
    to_send = [row for row in rows if row.line not in skipped]
    progress = RowProgress(ctx.err, len(to_send), quiet=args.quiet)
    sheet = _Sheet(api, job)
    recorded: list[tuple[Measurement, Mapping[str, Any]]] = []
    for start in range(0, len(to_send), CSV_BATCH):
        try:
            done = sheet.send(to_send[start : start + CSV_BATCH])
        except _Refused as refused:
            recorded.extend(refused.done)
            for row, _ in refused.done:
                progress.advance(row.line)
            progress.finish()
            raise _stopped(
                refused.error, refused.rows, [r for r, _ in recorded], sorted(skipped), path
            ) from None
        recorded.extend(done)
        for row, _ in done:
            progress.advance(row.line)
    progress.finish()
    if args.json:
        ctx.emit_json(
            {
                "recorded": [{"line": row.line, "record": record} for row, record in recorded],
                "skipped": [{"line": line, "record": skipped[line]} for line in sorted(skipped)],
            }
        )
        return 0
    _summarise(ctx, job, path, recorded, skipped)
    return 0


class _Refused(Exception):
    """The rows PrintFair refused (or may not have recorded), why, and the rows recorded just
    before them."""

    def __init__(
        self,
        rows: Sequence[Measurement],
        error: CliError,
        done: Sequence[tuple[Measurement, Mapping[str, Any]]] = (),
    ) -> None:
        super().__init__(error.message)
        self.rows, self.error, self.done = rows, error, list(done)


class _Sheet:
    """Rows of a measurement sheet sent to PrintFair in batches, each evidence file uploaded
    once."""

    def __init__(self, api: ApiClient, job: int) -> None:
        self.api, self.job = api, job
        self.uploaded: dict[Path, str] = {}

    def send(self, rows: Sequence[Measurement]) -> list[tuple[Measurement, Mapping[str, Any]]]:
        """Record `rows` in one request (their evidence uploaded first), each with its record.
        A batch is all or nothing; when a row is refused, the rows before it are sent again
        without it, so that a run stops at its first bad row with everything before it recorded
        (as rows sent one by one would). _Refused for that row."""
        from printfair.cli.api import AnswerLost, ApiError

        bodies: list[dict[str, Any]] = []
        for row in rows:
            try:
                ids = [self._upload(path) for path in row.evidence]
            except CliError as exc:
                raise _Refused(
                    [row], exc, self.send(rows[: len(bodies)]) if bodies else []
                ) from None
            bodies.append(_body(row.part_serial, row.fields, row.occurred_at, ids))
        try:
            answer = self.api.post(f"jobs/{self.job}/quality/batch/", {"records": bodies})
        except AnswerLost as exc:
            raise _Refused(rows, exc) from None
        except ApiError as exc:
            index = _refused_entry(exc, len(rows))
            if index is None:
                raise _Refused(rows, exc) from None
            before = self.send(rows[:index]) if index else []
            raise _Refused([rows[index]], _entry_error(exc, index), before) from None
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(rows):
            raise _Refused(
                rows,
                CliError(f"PrintFair at {self.api.base_url} did not say what it recorded"),
            )
        return list(zip(rows, results, strict=True))

    def _upload(self, path: Path) -> str:
        key = path.resolve()
        if key not in self.uploaded:
            self.uploaded[key] = upload_evidence(self.api, self.job, path)
        return self.uploaded[key]


def _refused_entry(exc: ApiError, count: int) -> int | None:
    """The index of the first entry a batch refusal names, or None (the whole batch)."""
    named = [entry[0] for name in exc.fields if (entry := batch_entry_named(name))]
    index = min(named, default=None)
    return index if index is not None and index < count else None


def _entry_error(exc: ApiError, index: int) -> ApiError:
    """A batch's refusal of entry `index` as the refusal of that one row: its own message and
    field names (`measured`, not `records.3.measured`)."""
    from printfair.cli.api import ApiError

    fields: dict[str, Any] = {}
    for name, problems in exc.fields.items():
        entry = batch_entry_named(name)
        if entry is not None and entry[0] == index:
            fields[entry[1] or "non_field_errors"] = problems
    return ApiError(
        without_batch_entry_label(exc.message), status=exc.status, code=exc.code, fields=fields
    )


def _stopped(
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


def _summarise(
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
