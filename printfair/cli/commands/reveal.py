"""``printfair reveal JOB`` / ``printfair reveal --all``: open sealed bids once bidding closes.

Revealing needs no key, only the price, lead time and salt saved when bidding, so ``--all`` can
run unattended from cron without a passphrase. It reveals every bid made from this home whose
job's bidding has closed and whose reveal window is still open (by the local clock), and exits
non-zero only if a reveal failed.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from printfair.cli.api import ApiError
from printfair.cli.commands.base import Parents, Subparsers, job_id
from printfair.cli.context import Context
from printfair.cli.errors import CliError, UsageError
from printfair.cli.output import format_time, format_units
from printfair.cli.state import LocalBid, utc_now

NEVER_ARRIVED = "PrintFair never received this bid"


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    reveal = subparsers.add_parser(
        "reveal",
        parents=parents,
        help="reveal a sealed bid (or all that are due) after bidding closes",
    )
    which = reveal.add_mutually_exclusive_group(required=True)
    which.add_argument("job", nargs="?", type=job_id, metavar="JOB", help="the job's id")
    which.add_argument(
        "--all",
        action="store_true",
        help="every bid made here whose reveal window is open (for cron)",
    )
    reveal.add_argument(
        "-q", "--quiet", action="store_true", help="print only failures (for cron mail)"
    )
    reveal.set_defaults(handler=reveal_bids)


def reveal_bids(ctx: Context, args: argparse.Namespace) -> int:
    chain = ctx.chain
    if not args.all:
        local = ctx.bids.get(chain.chain_id, chain.auction_house, args.job)
        if local is None:
            raise CliError(
                f"no bid on job {args.job} was made from {ctx.home}: its salt is on the "
                "machine that made it (use --home there)"
            )
        reveal_one(ctx, local, quiet=args.quiet)
        return 0
    now = utc_now()
    unrevealed = [
        bid
        for bid in ctx.bids.for_auction_house(chain.chain_id, chain.auction_house)
        if bid.revealed_version is None and bid.live_versions()
    ]
    due = [bid for bid in unrevealed if bid.in_reveal_window(now)]
    if not due and not args.quiet:
        waiting = sorted(
            (bid for bid in unrevealed if datetime.fromisoformat(bid.commit_deadline) > now),
            key=lambda bid: (datetime.fromisoformat(bid.commit_deadline), bid.job_id),
        )
        opens = [
            f"; job {bid.job_id} opens for reveals at "
            + format_time(bid.commit_deadline, seconds=True)
            for bid in waiting
        ]
        ctx.say("Nothing to reveal" + "".join(opens) + ".")
    failed = 0
    for bid in due:
        try:
            reveal_one(ctx, bid, quiet=args.quiet)
        except UsageError:
            raise
        except CliError as exc:
            failed += 1
            ctx.warn(f"job {bid.job_id}: {exc.message}")
            for line in exc.details:
                ctx.warn(f"  {line}")
    if failed:
        raise CliError(f"{failed} of {len(due)} reveals failed")
    return 0


def reveal_one(ctx: Context, local: LocalBid, *, quiet: bool = False) -> None:
    """Reveal the version of ``local`` that PrintFair holds; a CliError if that fails."""
    job = local.job_id
    held = ctx.api.get(f"jobs/{job}/bids/")
    if not held:
        if datetime.fromisoformat(local.commit_deadline) <= utc_now():
            # Bidding is over, so versions whose answer was lost never arrived: stop retrying.
            for unsure in local.versions:
                if unsure.state == "sending":
                    ctx.bids.mark(local.key, unsure.version, "refused", error=NEVER_ARRIVED)
        raise CliError(f"PrintFair has no bid of this shop on job {job}")
    current = held[0]
    sealed = local.version_with(current["commitment"])
    if sealed is None:
        raise CliError(
            f"PrintFair holds version {current['version']} of the bid on job {job}, which was "
            f"not made from {ctx.home}: only the salt where it was made can reveal it"
        )
    if current["status"] == "revealed":
        ctx.bids.mark_revealed(local.key, sealed.version)
        if not quiet:
            ctx.say(f"Job {job}: already revealed.")
        return
    try:
        answer = ctx.api.post(
            f"jobs/{job}/bids/reveal/",
            {
                "price": sealed.price,
                "lead_time_days": sealed.lead_time_days,
                "salt": sealed.salt,
            },
        )
    except ApiError as exc:
        if exc.code != "already_revealed":  # revealed meanwhile, by another run
            raise
        answer = None
    ctx.bids.mark_revealed(local.key, sealed.version)
    if not quiet:
        status = answer.get("status", "revealed") if answer else "revealed"
        ctx.say(
            f"Job {job} ({local.title}): {status} version {sealed.version}, "
            f"{format_units(sealed.price, local.decimals)} with a lead time of "
            f"{sealed.lead_time_days} days."
        )
