"""``printfair verify-design FILE``: check a local file against its proof of existence on chain,
with no PrintFair account and without trusting PrintFair: the file is hashed here and the
DesignRegistry contract is asked directly, through any node of the chain (``--rpc``)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from printfair.cli.chainread import Node, lookup_registration, registry_address
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.context import Context
from printfair.cli.errors import CliError, NotVerified, UsageError

HASH_CHUNK = 1 << 20


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    verify = subparsers.add_parser(
        "verify-design",
        parents=parents,
        help="check a design file against its proof of existence on chain (no account needed)",
    )
    verify.add_argument("file", type=Path, help="the design file to check")
    verify.add_argument(
        "--rpc", help="a JSON-RPC node of the chain (default: $PRINTFAIR_RPC); any node will do"
    )
    verify.add_argument(
        "--registry",
        help="the DesignRegistry's address (default: $PRINTFAIR_REGISTRY, else the one PrintFair "
        "publishes at --api)",
    )
    verify.add_argument(
        "--owner",
        metavar="REF",
        help="check this owner reference's own registration (0x and 64 hex digits, as the "
        "design's page shows it to its owner); default: the file's first registration",
    )
    add_json_flag(verify)
    verify.set_defaults(handler=verify_design)


def verify_design(ctx: Context, args: argparse.Namespace) -> int:
    rpc_url = args.rpc or ctx.env.get("PRINTFAIR_RPC")
    if not rpc_url:
        raise UsageError("give --rpc URL (or set PRINTFAIR_RPC): any JSON-RPC node of the chain")
    owner_ref = _owner_ref(args.owner) if args.owner is not None else None
    sha256 = _file_sha256(args.file)
    node = Node(rpc_url)
    chain_id = node.chain_id()
    registry = registry_address(
        given=args.registry or ctx.env.get("PRINTFAIR_REGISTRY"),
        api_url=ctx.api_url,
        chain_id=chain_id,
    )
    found = lookup_registration(
        node, chain_id=chain_id, registry=registry, sha256=sha256, owner_ref=owner_ref
    )
    registered_at = found.registered_at
    result: dict[str, Any] = {
        "file": str(args.file),
        "sha256": sha256,
        "chain_id": chain_id,
        "registry": registry,
        "registered": found.registered,
        "registered_at": registered_at.isoformat() if registered_at else None,
        "owner_ref": "0x" + found.owner_ref.hex() if found.registered else None,
    }
    if args.json:
        ctx.emit_json(result)
    if not found.registered:
        by = f" by owner {args.owner}" if owner_ref is not None else ""
        raise NotVerified(
            f"{args.file} is not registered{by}: no DesignRegistry entry for SHA-256 {sha256} "
            f"on chain {chain_id} at {registry}"
        )
    if not args.json:
        ctx.say(
            f"Registered: {args.file} existed by {found.when()} (chain {chain_id}, DesignRegistry "
            f"{registry}).",
            f"SHA-256          {sha256}",
            f"Owner reference  {result['owner_ref']}",
        )
    return 0


def _owner_ref(given: str) -> bytes:
    try:
        owner_ref = bytes.fromhex(given.removeprefix("0x"))
    except ValueError:
        owner_ref = b""
    if len(owner_ref) != 32:
        raise UsageError(f"--owner {given!r} is not an owner reference (0x and 64 hex digits)")
    return owner_ref


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()
