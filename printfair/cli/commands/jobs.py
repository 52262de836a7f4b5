"""``printfair jobs list|show``: open jobs a verified shop may bid on."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from printfair.cli.api import ApiError
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.context import Context
from printfair.cli.errors import CliError
from printfair.cli.output import format_amount, format_time, shorten, table


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    jobs = subparsers.add_parser("jobs", parents=parents, help="find open jobs")
    actions = jobs.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list",
        parents=parents,
        help="list the jobs open for bids, soonest bidding deadline first",
    )
    listing.add_argument("--process", help="e.g. sls, fdm, mjf")
    listing.add_argument("--material", help="e.g. pa12, pla")
    listing.add_argument(
        "--fits",
        nargs=3,
        type=_millimetres,
        metavar=("X", "Y", "Z"),
        help="your build volume in mm: only jobs whose every part fits it (in any orientation)",
    )
    listing.add_argument(
        "--deadline-before",
        type=_date,
        metavar="YYYY-MM-DD",
        help="only jobs to be delivered on or before this date",
    )
    add_json_flag(listing)
    listing.set_defaults(handler=jobs_list)

    show = actions.add_parser(
        "show", parents=parents, help="one open job: specification, geometry and file hashes"
    )
    show.add_argument("job", type=job_id, metavar="JOB", help="the job's id")
    add_json_flag(show)
    show.set_defaults(handler=jobs_show)


def _millimetres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a length in mm") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive length in mm")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2030-12-31") from None


def jobs_list(ctx: Context, args: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    if args.process:
        params["process"] = args.process
    if args.material:
        params["material"] = args.material
    if args.fits:
        params["fits"] = "x".join(f"{edge:g}" for edge in args.fits)
    if args.deadline_before:
        params["deadline_before"] = args.deadline_before.isoformat()
    jobs = list(ctx.api.paginate("jobs/", params))
    if args.json:
        ctx.emit_json(jobs)
        return 0
    if not jobs:
        ctx.say("No open jobs" + (" match these filters." if params else "."))
        return 0
    rows = [
        [
            str(job["id"]),
            shorten(job["title"]),
            job["process"],
            job["material"],
            str(job["quantity"]),
            format_amount(job["reserve_price"]),
            format_time(job["commit_deadline"]),
            format_time(job["reveal_deadline"]),
            job["delivery_deadline"],
        ]
        for job in jobs
    ]
    headers = ["id", "title", "process", "material", "qty", "reserve", "bids close"]
    ctx.say(*table([*headers, "reveal by", "needed by"], rows))
    return 0


def get_open_job(ctx: Context, job: int) -> dict[str, Any]:
    """The open job, or a clear error when it is not open for bids."""
    try:
        found: dict[str, Any] = ctx.api.get(f"jobs/{job}/")
    except ApiError as exc:
        if exc.status == 404:
            raise CliError(
                f"job {job} is not open for bids: it is unknown, not published yet, "
                "or its bidding has closed"
            ) from None
        raise
    return found


def jobs_show(ctx: Context, args: argparse.Namespace) -> int:
    job = get_open_job(ctx, args.job)
    if args.json:
        ctx.emit_json(job)
        return 0
    envelope = job.get("envelope_mm")
    ctx.say(
        f"Job {job['id']}: {job['title']}",
        f"  process / material: {job['process']} / {job['material']}",
        f"  quantity:           {job['quantity']} (+{job['spares']} spares)",
        f"  tolerance / finish: ±{job['tolerance_mm']} mm / {job['finish']}",
        f"  certifications:     {', '.join(job['required_certifications']) or '-'}",
        "  largest part:       "
        + (" × ".join(f"{edge:.1f}" for edge in envelope) + " mm" if envelope else "-"),
        "  quality gate:       " + (", ".join(job.get("required_characteristics") or []) or "-"),
        "  machine-attested:   "
        + ("required" if job.get("requires_machine_attestation") else "not required"),
        f"  reserve price:      {format_amount(job['reserve_price'])} ({job['pricing_rule']})",
        f"  funding window:     {job['funding_window_hours']} h after the award, then "
        + (
            "the award passes to the runner-up (once)"
            if job.get("award_passes_to_runner_up")
            else "the award expires"
        ),
        f"  bids close:         {format_time(job['commit_deadline'])}",
        f"  reveal by:          {format_time(job['reveal_deadline'])}",
        f"  needed by:          {job['delivery_deadline']}",
        "",
        *job.get("description", "").splitlines(),
    )
    files = job.get("files") or []
    if files:
        ctx.say("")
        rows = [
            [
                f["original_name"],
                f["kind"],
                str(f["size_bytes"]),
                " × ".join(f"{edge:.1f}" for edge in f["size_mm"]) if f.get("size_mm") else "-",
                format_volume(f),
                f["sha256"],
            ]
            for f in files
        ]
        ctx.say(*table(["file", "kind", "bytes", "size (mm)", "volume", "sha256"], rows))
    return 0


def format_volume(design_file: dict[str, Any]) -> str:
    """The volume, or why there is none: a mesh that is not closed has no meaningful volume."""
    volume = design_file.get("volume_cm3")
    problems = [
        f"not {check.replace('_', ' ')}"
        for check in ("watertight", "consistently_wound")
        if design_file.get(check) is False
    ]
    if problems:
        return f"not closed ({', '.join(problems)}): volume not meaningful"
    if volume is None:
        return "-"
    unchecked = (
        design_file.get("watertight") is None or design_file.get("consistently_wound") is None
    )
    return f"{volume:.2f} cm³" + (" (closure not checked)" if unchecked else "")
