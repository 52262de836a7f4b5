"""``printfair bid JOB [JOB ...] --price P --lead-days N``: sealed bids, signed here with the
shop's key.

The price and a fresh salt never leave this machine until the reveal; PrintFair gets only the
commitment and its EIP-712 signature (printfair/eip712.py). The salts are saved before the bids
are sent, so a crash can never leave a bid on chain that nobody can open. Bids on several jobs
go in one request (POST /api/v1/bids/), each accepted or refused on its own.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from printfair.cli.api import AnswerLost, ApiError
from printfair.cli.commands.base import Parents, Subparsers, job_id
from printfair.cli.commands.jobs import get_open_job
from printfair.cli.context import Context
from printfair.cli.errors import CliError, UsageError
from printfair.cli.output import format_time, format_units, to_base_units
from printfair.cli.state import LocalBid, SealedVersion

MAX_LEAD_DAYS = 2**32 - 1


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    bid = subparsers.add_parser(
        "bid",
        parents=parents,
        help="place (or replace) a sealed bid on an open job",
        description="Place a sealed bid: the price and lead time are committed with a fresh "
        "random salt and signed with the shop's key. A new bid on the same job replaces the "
        "previous one until bidding closes. Reveal it with `printfair reveal` once bidding has "
        "closed. Given several jobs, the same price and lead time go on each, in one request; "
        "each bid is accepted or refused on its own.",
    )
    bid.add_argument(
        "jobs", nargs="+", type=job_id, metavar="JOB", help="the job's id (several: one bid each)"
    )
    bid.add_argument(
        "--price",
        required=True,
        type=_price,
        metavar="P",
        help="the total price in currency units, e.g. 120.50",
    )
    bid.add_argument(
        "--lead-days",
        required=True,
        type=_lead_days,
        metavar="N",
        help="days from award to delivery",
    )
    bid.set_defaults(handler=place_bid)


def _price(text: str) -> str:
    # Only the form is checked here; the precision needs the settlement token's decimals.
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a price like 120.50") from None
    if not amount.is_finite() or amount <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive price")
    return text


def _lead_days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 1 <= value <= MAX_LEAD_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 up")
    return value


def _check_registered(ctx: Context, address: str, path: Path) -> None:
    """Stop early, with the fix, when the local key is not the shop's registered one (PrintFair
    would refuse the signature). Reading the keys needs the keys:write scope, which a key made
    for bidding alone lacks: then PrintFair's own check has to do."""
    try:
        registered = ctx.api.get("shop/keys/").get("address")
    except ApiError as exc:
        if exc.status == 403:
            return
        raise
    if registered != address:
        raise CliError(
            f"the keys in {path} ({address}) are not the shop's registered keys "
            f"({registered or 'none'}): run `printfair keys register` first"
        )


@dataclass
class _Sealed:
    """A bid ready to send: what is kept here (its record and version) and the request's body."""

    job: dict[str, Any]
    record: LocalBid
    version: SealedVersion
    body: dict[str, Any]


def place_bid(ctx: Context, args: argparse.Namespace) -> int:
    # eth_account, eth_abi and friends: imported by the commands that sign, and only by them.
    from printfair.eip712 import BIDS_PER_REQUEST, Bid, BidError, new_salt, sign_sealed_bid

    if len(set(args.jobs)) != len(args.jobs):
        raise UsageError("a job is given twice: one bid per job")
    if len(args.jobs) > BIDS_PER_REQUEST:
        raise UsageError(f"at most {BIDS_PER_REQUEST} jobs at once")
    keys = ctx.keys()
    chain = ctx.chain
    price = to_base_units(args.price, chain.decimals)
    jobs = [_biddable_job(ctx, job, args.lead_days) for job in args.jobs]
    _check_registered(ctx, keys.address, keys.path)
    preimages = []
    for job in jobs:
        try:
            preimages.append(Bid(job["id"], keys.address, price, args.lead_days, new_salt()))
        except BidError as exc:
            raise UsageError(str(exc)) from None
    versions = [_next_version(ctx, job["id"]) for job in jobs]
    # Asked only now, once PrintFair has said the bids can go in.
    account = keys.unlock_ethereum(ctx.passphrase())
    sealed = []
    for job, preimage, version in zip(jobs, preimages, versions, strict=True):
        commitment = preimage.commitment()
        signature = sign_sealed_bid(
            account.key,
            chain_id=chain.chain_id,
            contract=chain.auction_house,
            job_id=job["id"],
            commitment=commitment,
            version=version,
        )
        record = LocalBid(
            chain_id=chain.chain_id,
            auction_house=chain.auction_house,
            job_id=job["id"],
            shop=keys.address,
            api=ctx.api_url,
            title=job["title"],
            commit_deadline=job["commit_deadline"],
            reveal_deadline=job["reveal_deadline"],
            decimals=chain.decimals,
        )
        kept = SealedVersion(
            version=version,
            price=price,
            lead_time_days=args.lead_days,
            salt="0x" + preimage.salt.hex(),
            commitment="0x" + commitment.hex(),
        )
        body = {
            "commitment": kept.commitment,
            "version": version,
            "signature": "0x" + signature.hex(),
        }
        sealed.append(_Sealed(job, record, kept, body))
    for bid in sealed:
        ctx.bids.add_version(bid.record, bid.version)
    if len(sealed) == 1:
        (bid,) = sealed
        answer = _sent(ctx, sealed, lambda: ctx.api.post(f"jobs/{bid.job['id']}/bids/", bid.body))
        _accepted(ctx, bid, answer, args.lead_days)
        return 0
    body = {"bids": [{"job": bid.job["id"], **bid.body} for bid in sealed]}
    many = _sent(ctx, sealed, lambda: ctx.api.post("bids/", body))
    refused = 0
    for bid, result in zip(sealed, many["results"], strict=True):
        if result["status"] == 201:
            _accepted(ctx, bid, result["bid"], args.lead_days)
            continue
        refused += 1
        error = result["error"]
        ctx.bids.mark(bid.record.key, bid.version.version, "refused", error=error["message"])
        ctx.warn(f"bid on job {bid.job['id']} refused: {error['message']}")
    if refused:
        raise CliError(f"{refused} of {len(sealed)} bids refused (see above)")
    return 0


def _biddable_job(ctx: Context, job_id: int, lead_days: int) -> dict[str, Any]:
    job = get_open_job(ctx, job_id)
    longest = job.get("max_lead_time_days")
    if longest is not None and lead_days > int(longest):
        # Sealed, it would be refused only at the reveal, when it is too late to bid again.
        raise UsageError(
            f"a lead time of {lead_days} days cannot win job {job_id}: at most "
            f"{longest} days (the parts are needed by {job.get('delivery_deadline')})"
        )
    return job


def _next_version(ctx: Context, job_id: int) -> int:
    """Versions must only go up; PrintFair may know of one made elsewhere, or lost here."""
    on_server = ctx.api.get(f"jobs/{job_id}/bids/")
    chain = ctx.chain
    local = ctx.bids.get(chain.chain_id, chain.auction_house, job_id)
    return 1 + max([local.latest_version if local else 0, *(int(b["version"]) for b in on_server)])


def _sent(ctx: Context, bids: list[_Sealed], send: Callable[[], Any]) -> Any:
    """`send`'s answer. A refusal of the request is kept with the bids' salts, and an answer
    lost says where they are."""
    try:
        return send()
    except ApiError as exc:
        # A 5xx may come from a proxy after the bids went in: keep them as maybe sent.
        if exc.status < 500:
            for bid in bids:
                ctx.bids.mark(bid.record.key, bid.version.version, "refused", error=exc.message)
        raise
    except AnswerLost as exc:
        exc.details.append(
            f"The bids may have gone in: their salts are kept in {ctx.bids.path}, and "
            "`printfair bids` shows which PrintFair has."
            if len(bids) > 1
            else f"The bid may have gone in: its salt is kept in {ctx.bids.path}, and "
            "`printfair bids` shows whether PrintFair has it."
        )
        raise


def _accepted(ctx: Context, bid: _Sealed, answer: dict[str, Any], lead_days: int) -> None:
    ctx.bids.mark(bid.record.key, bid.version.version, "accepted")
    relay = answer.get("relay") or {}
    job, chain = bid.job, ctx.chain
    ctx.say(
        f"Bid version {bid.version.version} on job {job['id']} ({job['title']}): "
        f"{format_units(bid.version.price, chain.decimals)} with a lead time of {lead_days} days.",
        f"Commitment: {answer.get('commitment', bid.version.commitment)}",
        f"Relay to the AuctionHouse: {relay.get('status', 'not queued')}"
        + (f" (tx {relay['tx_hash']})" if relay.get("tx_hash") else ""),
        f"The salt is saved in {ctx.bids.path}; reveal between "
        f"{format_time(job['commit_deadline'])} and {format_time(job['reveal_deadline'])} "
        f"(printfair reveal {job['id']}, or reveal --all from cron).",
    )
