"""``printfair bid JOB --price P --lead-days N``: a sealed bid, signed here with the shop's key.

The price and a fresh salt never leave this machine until the reveal; PrintFair gets only the
commitment and its EIP-712 signature (printfair/eip712.py). The salt is saved before the bid is
sent, so a crash can never leave a bid on chain that nobody can open.
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path

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
        "closed.",
    )
    bid.add_argument("job", type=job_id, metavar="JOB", help="the job's id")
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


def place_bid(ctx: Context, args: argparse.Namespace) -> int:
    # eth_account, eth_abi and friends: imported by the commands that sign, and only by them.
    from printfair.eip712 import Bid, BidError, new_salt, sign_sealed_bid

    keys = ctx.keys()
    chain = ctx.chain
    price = to_base_units(args.price, chain.decimals)
    job = get_open_job(ctx, args.job)
    longest = job.get("max_lead_time_days")
    if longest is not None and args.lead_days > int(longest):
        # Sealed, it would be refused only at the reveal, when it is too late to bid again.
        raise UsageError(
            f"a lead time of {args.lead_days} days cannot win job {args.job}: at most "
            f"{longest} days (the parts are needed by {job.get('delivery_deadline')})"
        )
    _check_registered(ctx, keys.address, keys.path)
    # Versions must only go up; PrintFair may know of one made elsewhere, or lost here.
    on_server = ctx.api.get(f"jobs/{args.job}/bids/")
    local = ctx.bids.get(chain.chain_id, chain.auction_house, args.job)
    version = 1 + max(
        [local.latest_version if local else 0, *(int(b["version"]) for b in on_server)]
    )
    try:
        sealed = Bid(args.job, keys.address, price, args.lead_days, new_salt())
    except BidError as exc:
        raise UsageError(str(exc)) from None
    # Asked only now, once PrintFair has said the bid can go in.
    account = keys.unlock_ethereum(ctx.passphrase())
    commitment = sealed.commitment()
    signature = sign_sealed_bid(
        account.key,
        chain_id=chain.chain_id,
        contract=chain.auction_house,
        job_id=args.job,
        commitment=commitment,
        version=version,
    )
    record = LocalBid(
        chain_id=chain.chain_id,
        auction_house=chain.auction_house,
        job_id=args.job,
        shop=keys.address,
        api=ctx.api_url,
        title=job["title"],
        commit_deadline=job["commit_deadline"],
        reveal_deadline=job["reveal_deadline"],
        decimals=chain.decimals,
    )
    ctx.bids.add_version(
        record,
        SealedVersion(
            version=version,
            price=price,
            lead_time_days=args.lead_days,
            salt="0x" + sealed.salt.hex(),
            commitment="0x" + commitment.hex(),
        ),
    )
    try:
        answer = ctx.api.post(
            f"jobs/{args.job}/bids/",
            {
                "commitment": "0x" + commitment.hex(),
                "version": version,
                "signature": "0x" + signature.hex(),
            },
        )
    except ApiError as exc:
        # A 5xx may come from a proxy after the bid went in: keep it as maybe sent.
        if exc.status < 500:
            ctx.bids.mark(record.key, version, "refused", error=exc.message)
        raise
    except AnswerLost as exc:
        exc.details.append(
            f"The bid may have gone in: its salt is kept in {ctx.bids.path}, and "
            "`printfair bids` shows whether PrintFair has it."
        )
        raise
    ctx.bids.mark(record.key, version, "accepted")
    relay = answer.get("relay") or {}
    ctx.say(
        f"Bid version {version} on job {args.job} ({job['title']}): "
        f"{format_units(price, chain.decimals)} with a lead time of {args.lead_days} days.",
        f"Commitment: {answer.get('commitment', '0x' + commitment.hex())}",
        f"Relay to the AuctionHouse: {relay.get('status', 'not queued')}"
        + (f" (tx {relay['tx_hash']})" if relay.get("tx_hash") else ""),
        f"The salt is saved in {ctx.bids.path}; reveal between "
        f"{format_time(job['commit_deadline'])} and {format_time(job['reveal_deadline'])} "
        f"(printfair reveal {args.job}, or reveal --all from cron).",
    )
    return 0
