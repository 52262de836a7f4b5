"""``printfair payouts`` and ``printfair withdraw``: what the AuctionHouse holds for the shop, and
moving it to the shop's own address. The withdrawal is an EIP-712 ``Withdrawal`` signed here with
the shop's key and relayed by PrintFair, so the shop needs no gas."""

from __future__ import annotations

import argparse
import time

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.context import Context
from printfair.cli.errors import CliError
from printfair.cli.output import format_units, table

#: How long the signed withdrawal stays valid (the server allows up to a day).
VALID_SECONDS = 3600


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    payouts = subparsers.add_parser(
        "payouts", parents=parents, help="show the balance to withdraw and the payouts made"
    )
    add_json_flag(payouts)
    payouts.set_defaults(handler=show_payouts)
    withdraw = subparsers.add_parser(
        "withdraw",
        parents=parents,
        help="withdraw the whole balance to the shop's address (signed here, relayed: no gas)",
    )
    add_json_flag(withdraw)
    withdraw.set_defaults(handler=withdraw_all)


def show_payouts(ctx: Context, args: argparse.Namespace) -> int:
    state = ctx.api.get("payouts/")
    if args.json:
        ctx.emit_json(state)
        return 0
    decimals = ctx.chain.decimals
    ctx.say(
        f"Address      {state['address']}",
        f"To withdraw  {format_units(int(state['pending']), decimals)}"
        + ("  (printfair withdraw)" if int(state["pending"]) else ""),
    )
    for relay in state.get("withdrawing", []):
        where = f" in block {relay['block']}" if relay.get("block") else ""
        ctx.say(
            f"Withdrawing  the balance: {relay['status']}{where}, the payout follows once final"
        )
    rows = [
        [
            p["created_at"][:16].replace("T", " "),
            format_units(int(p["amount"]), decimals),
            str(p["block"]),
            p["tx_hash"],
        ]
        for p in state["payouts"]
    ]
    if rows:
        ctx.say("", *table(["when", "amount", "block", "transaction"], rows))
    return 0


def withdraw_all(ctx: Context, args: argparse.Namespace) -> int:
    from printfair.withdrawals import (
        sign_withdrawal,
    )  # eth_account: only for the commands that sign

    state = ctx.api.get("payouts/")
    pending = int(state["pending"])
    if pending == 0:
        raise CliError("Nothing to withdraw: the balance is 0.")
    account = ctx.keys().unlock_ethereum(ctx.passphrase())
    if account.address != state["address"]:
        raise CliError(
            f"This machine's key is {account.address}, but PrintFair pays {state['address']}: "
            "run `printfair keys register` with the shop's key first."
        )
    chain = ctx.chain
    deadline = int(time.time()) + VALID_SECONDS
    signature = sign_withdrawal(
        account.key,
        chain_id=chain.chain_id,
        contract=chain.auction_house,
        nonce=int(state["nonce"]),
        deadline=deadline,
    )
    sent = ctx.api.post(
        "payouts/withdraw/", {"deadline": deadline, "signature": "0x" + signature.hex()}
    )
    if args.json:
        ctx.emit_json({"amount": str(pending), "relay": sent})
        return 0
    ctx.say(
        f"Withdrawing {format_units(pending, chain.decimals)} to {account.address}: "
        f"relay {sent['status']}. `printfair payouts` shows it once final."
    )
    return 0
