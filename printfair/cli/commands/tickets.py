"""``printfair print-ticket JOB --machine M --serial S`` and ``printfair tickets JOB``: every print
of a won job's design takes a ticket from the licence's counter first (refused once the prints it
allows are taken, or the licence closed); tickets are anchored on chain like quality records."""

from __future__ import annotations

import argparse

from printfair.cli.api import AnswerLost
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.context import Context
from printfair.cli.output import format_time, shorten, table


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    take = subparsers.add_parser(
        "print-ticket",
        parents=parents,
        help="take a print ticket before printing a part of a won job",
        description="Take the next print ticket of the shop's licence for JOB, naming the "
        "machine and the part's serial number. Refused once the licence's prints (quantity "
        "plus spares) are all taken, or once the order is settled.",
    )
    take.add_argument("job", type=job_id, help="the job's id")
    take.add_argument("--machine", required=True, help="the machine that prints the part")
    take.add_argument("--serial", required=True, help="the part's serial number")
    add_json_flag(take)
    take.set_defaults(handler=take_ticket)

    listing = subparsers.add_parser(
        "tickets", parents=parents, help="list the print tickets taken for a won job"
    )
    listing.add_argument("job", type=job_id, help="the job's id")
    add_json_flag(listing)
    listing.set_defaults(handler=list_tickets)


def take_ticket(ctx: Context, args: argparse.Namespace) -> int:
    job = args.job
    try:
        ticket = ctx.api.post(
            f"jobs/{job}/tickets/", {"machine": args.machine, "part_serial": args.serial}
        )
    except AnswerLost as exc:
        # Tickets are counted: taking another blindly could spend a print twice.
        raise AnswerLost(
            exc.message,
            details=[
                *exc.details,
                f"The ticket may have been taken: check `printfair tickets {job}` first.",
            ],
        ) from None
    if args.json:
        ctx.emit_json(ticket)
        return 0
    number, allowed = int(ticket["number"]), int(ticket["prints_allowed"])
    ctx.say(
        f"Ticket {number} of {allowed} for job {job} (id {ticket['id']}): machine "
        f"{ticket['machine']}, part {ticket['part_serial']}.",
        f"A registered machine's agent prints it with `--ticket {ticket['id']}`.",
    )
    left = allowed - number
    ctx.say(
        "That was the last print the licence allows."
        if left <= 0
        else f"{left} more print{'s' if left != 1 else ''} allowed under the licence."
    )
    return 0


def list_tickets(ctx: Context, args: argparse.Namespace) -> int:
    job = args.job
    tickets = list(ctx.api.paginate(f"jobs/{job}/tickets/"))
    if args.json:
        ctx.emit_json(tickets)
        return 0
    if not tickets:
        ctx.say(f"No print tickets for job {job} yet.")
        return 0
    tickets.sort(key=lambda t: int(t["number"]))
    allowed = int(tickets[-1]["prints_allowed"])
    ctx.say(f"Job {job}: {len(tickets)} of {allowed} prints taken.")
    rows = [
        [
            str(t["number"]),
            str(t["id"]),
            shorten(str(t["machine"]), 28),
            shorten(str(t["part_serial"]), 28),
            format_time(t.get("created_at")),
        ]
        for t in tickets
    ]
    ctx.say(*table(["ticket", "id", "machine", "part serial", "taken"], rows))
    return 0
