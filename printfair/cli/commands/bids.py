"""``printfair bids``: the shop's bids as PrintFair has them, with what only this machine knows
(the sealed prices, and the bids PrintFair refused or never confirmed)."""

from __future__ import annotations

import argparse
from typing import Any

from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.context import Context
from printfair.cli.output import format_units, shorten, table
from printfair.cli.state import LocalBid, SealedVersion


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    bids = subparsers.add_parser(
        "bids",
        parents=parents,
        help="list the shop's bids, with sealed prices known here",
    )
    add_json_flag(bids)
    bids.set_defaults(handler=list_bids)


def list_bids(ctx: Context, args: argparse.Namespace) -> int:
    chain = ctx.chain
    local = {b.job_id: b for b in ctx.bids.for_auction_house(chain.chain_id, chain.auction_house)}
    merged = []
    for held in ctx.api.paginate("bids/"):
        mine = local.pop(int(held["job"]), None)
        sealed = mine.version_with(held["commitment"]) if mine else None
        merged.append(_row(held, mine, sealed, chain.decimals))
    # Bids PrintFair does not have: refused, or sent without an answer.
    for mine in local.values():
        latest = max(mine.versions, key=lambda v: v.version)
        merged.append(_row(None, mine, latest, chain.decimals))
    if args.json:
        ctx.emit_json(merged)
        return 0
    if not merged:
        ctx.say("No bids yet.")
        return 0
    rows = []
    for bid in merged:
        price = format_units(bid["price_base_units"], chain.decimals)
        if bid["price"] and not bid["price_revealed"]:
            price += " (sealed)"
        status = bid["status"]
        if bid["status"] == "refused" and bid["local"]["error"]:
            status += ": " + bid["local"]["error"]
        elif bid["outcome"] not in (None, "pending"):
            status = OUTCOMES.get(bid["outcome"], bid["outcome"])
        rows.append(
            [
                str(bid["job"]),
                shorten(bid["title"] or "-", 24),
                str(bid["version"]),
                price,
                "-" if bid["lead_time_days"] is None else str(bid["lead_time_days"]),
                (bid["relay"] or {}).get("status") or "-",
                _reveal_state(bid),
                status,
            ]
        )
    header = ["job", "title", "version", "price", "lead days", "commit", "reveal", "status"]
    ctx.say(*table(header, rows))
    return 0


#: What the auction came to, as the table says it (the API's `outcome`).
OUTCOMES = {
    "won": "won",
    "lost": "lost",
    "award_expired": "award expired (not funded in time)",
    "cancelled": "cancelled",
    "failed": "no award",
}


def _reveal_state(bid: dict[str, Any]) -> str:
    """Where the reveal is: final once the chain's BidRevealed event is, before that its relay."""
    if bid["revealed_on_chain"]:
        return "on chain"
    return (bid["reveal_relay"] or {}).get("status") or "-"


def _row(
    held: dict[str, Any] | None,
    mine: LocalBid | None,
    sealed: SealedVersion | None,
    decimals: int,
) -> dict[str, Any]:
    """One bid as ``--json`` shows it; prices in currency units and in base units."""
    revealed = False
    if held is not None and held.get("price") is not None:
        revealed = True
        base: int | None = int(held["price"])
        lead = held.get("lead_time_days")
    else:
        base = sealed.price if sealed else None
        lead = sealed.lead_time_days if sealed else None
    if held is not None:
        status = held["status"]
    elif sealed is not None and sealed.state == "refused":
        status = "refused"
    else:
        status = "unconfirmed"  # sent, but no answer came back
    return {
        "job": held["job"] if held else mine.job_id if mine else None,
        "title": (held or {}).get("title") or (mine.title if mine else None),
        "commit_deadline": held.get("commit_deadline") if held else None,
        "reveal_deadline": held.get("reveal_deadline") if held else None,
        "version": held["version"] if held else sealed.version if sealed else None,
        "commitment": held["commitment"] if held else sealed.commitment if sealed else None,
        "status": status,
        "price": format_units(base, decimals, grouping=False) if base is not None else None,
        "price_base_units": base,
        "price_revealed": revealed,
        "lead_time_days": lead,
        "relay": held.get("relay") if held else None,
        "reveal_relay": held.get("reveal_relay") if held else None,
        "revealed_on_chain": bool(held and held.get("revealed_on_chain")),
        "outcome": held.get("outcome") if held else None,
        "updated_at": held.get("updated_at") if held else None,
        "local": {"state": sealed.state, "error": sealed.error} if sealed else None,
    }
