"""The CLI's commands. Each module has ``add_parser(subparsers, parents)``, which adds its
subcommand(s) with ``handler`` (a function ``(Context, Namespace) -> exit status``) as the
parser's default; a new command is one such module and one line in ``COMMANDS``."""

from __future__ import annotations

from printfair.cli.commands import (
    agent,
    bid,
    bids,
    design,
    jobs,
    keys,
    orders,
    payouts,
    records,
    report,
    reveal,
    tickets,
    verify,
    verify_design,
)
from printfair.cli.commands.base import AddParser

COMMANDS: tuple[AddParser, ...] = (
    keys.add_parser,
    jobs.add_parser,
    bid.add_parser,
    reveal.add_parser,
    bids.add_parser,
    orders.add_parser,
    payouts.add_parser,
    verify_design.add_parser,
    design.add_parser,
    tickets.add_parser,
    report.add_parser,
    records.add_parser,
    verify.add_parser,
    agent.add_parser,
)
