"""``printfair orders`` and ``printfair deliver JOB``: the jobs the shop won, and recording that
one was delivered (which opens the customer's claim window)."""

from __future__ import annotations

import argparse

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag, job_id
from printfair.cli.context import Context
from printfair.cli.output import format_units, shorten, table


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    orders = subparsers.add_parser("orders", parents=parents, help="list the jobs the shop won")
    add_json_flag(orders)
    orders.set_defaults(handler=list_orders)
    deliver = subparsers.add_parser(
        "deliver", parents=parents, help="record that a funded order was delivered"
    )
    deliver.add_argument("job", type=job_id, help="the job id")
    deliver.set_defaults(handler=deliver_order)


def list_orders(ctx: Context, args: argparse.Namespace) -> int:
    orders = list(ctx.api.paginate("orders/"))
    if args.json:
        ctx.emit_json(orders)
        return 0
    if not orders:
        ctx.say("No orders yet.")
        return 0
    decimals = ctx.chain.decimals
    rows = [
        [
            str(o["job"]),
            shorten(o["title"], 28),
            o.get("stage", o["status"]).replace("_", " "),
            format_units(int(o["price"]), decimals),
            o["delivery_deadline"][:10],
        ]
        for o in orders
    ]
    ctx.say(*table(["job", "title", "stage", "price", "deliver by"], rows))
    return 0


def deliver_order(ctx: Context, args: argparse.Namespace) -> int:
    sent = ctx.api.post(f"orders/{args.job}/delivered/")
    ctx.say(
        f"Delivery of job {args.job} recorded: relay {sent['status']}. The customer's claim "
        "window opens once it is final."
    )
    return 0
