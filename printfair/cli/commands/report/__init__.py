"""``printfair report event|quality|csv``: a won job's production events and quality
measurements, per part serial (DESIGN.md section 3 step 9).

Everything is checked here first with the functions the server uses (printfair/production.py),
so a mistake is a usage error naming the option (or the CSV line and column) before anything is
sent. Evidence files are uploaded first; each record then cites them by id, and PrintFair puts
their SHA-256 into the record it anchors.

``report csv`` sends many measurements at once and can be run again after a refusal or a lost
answer: the rows PrintFair already holds are recognised and skipped (see ``match_recorded``).

Here: the parser and the three actions. The parts they are made of: ``checks`` (times, evidence
files, problems named by option), ``sheet`` (a measurement CSV read, checked and matched against
the records PrintFair holds), ``upload`` (evidence, records, a sheet's batches) and ``output``
(what the command says).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.commands.report.checks import (
    EVIDENCE_MAX_BYTES,
    TIME_EXAMPLE,
    check_evidence,
    parse_time,
    problem_lines,
)
from printfair.cli.commands.report.output import (
    format_limits,
    recorded_line,
    stopped_error,
    summarise,
    verdict,
)
from printfair.cli.commands.report.sheet import (
    CSV_QUALITY_FIELDS,
    Measurement,
    line_ranges,
    match_recorded,
    read_measurements,
)
from printfair.cli.commands.report.upload import (
    Refused,
    SheetUpload,
    post_record,
    record_body,
    upload_evidence,
)
from printfair.cli.errors import CliError, UsageError
from printfair.cli.progress import RowProgress
from printfair.production import (
    EVENT_KINDS,
    QUALITY,
    QUALITY_BATCH_MAX,
    RecordInvalid,
    validate_event,
    validate_quality,
)

if TYPE_CHECKING:
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


# --- the actions -------------------------------------------------------------------------


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
            f"the {kind} event is not complete", details=problem_lines(exc, EVENT_FIELDS)
        ) from None
    check_evidence(args.evidence)
    evidence = [upload_evidence(ctx.api, args.job, path) for path in args.evidence]
    body = record_body(args.serial, {"kind": kind, "data": data}, args.at, evidence)
    record = post_record(ctx, f"jobs/{args.job}/events/", body, args.serial, args.job)
    if args.json:
        ctx.emit_json(record)
    else:
        ctx.say(recorded_line(record, args.job))
    return 0


def report_quality(ctx: Context, args: argparse.Namespace) -> int:
    fields = {
        name: getattr(args, name) for name in CSV_QUALITY_FIELDS if getattr(args, name) is not None
    }
    try:
        clean = validate_quality(fields)
    except RecordInvalid as exc:
        raise UsageError(
            "the quality measurement is not valid", details=problem_lines(exc, QUALITY_OPTIONS)
        ) from None
    check_evidence(args.evidence)
    evidence = [upload_evidence(ctx.api, args.job, path) for path in args.evidence]
    body = record_body(args.serial, fields, args.at, evidence)
    record = post_record(ctx, f"jobs/{args.job}/quality/", body, args.serial, args.job)
    if args.json:
        ctx.emit_json(record)
        return 0
    passed = record.get("passed")
    if passed is None:
        passed = clean["passed"]
    ctx.say(
        recorded_line(record, args.job),
        f"{verdict(passed)}: {record.get('characteristic') or clean['characteristic']} "
        f"{format_limits(record.get('data') or clean)}.",
    )
    return 0


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
    sheet = SheetUpload(api, job)
    recorded: list[tuple[Measurement, Mapping[str, Any]]] = []
    for start in range(0, len(to_send), CSV_BATCH):
        try:
            done = sheet.send(to_send[start : start + CSV_BATCH])
        except Refused as refused:
            recorded.extend(refused.done)
            for row, _ in refused.done:
                progress.advance(row.line)
            progress.finish()
            raise stopped_error(
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
    summarise(ctx, job, path, recorded, skipped)
    return 0
