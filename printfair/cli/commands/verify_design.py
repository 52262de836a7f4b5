"""``printfair verify-design FILE``: check a local file against its proof of existence on chain,
with no PrintFair account and without trusting PrintFair: the file is hashed here and the
DesignRegistry contract is asked directly, through any node of the chain (``--rpc``)."""

from __future__ import annotations

import argparse
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector

from printfair.cli.api import ApiClient
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.context import Context
from printfair.cli.errors import CliError, NotVerified, UsageError
from printfair.keys import KeyProofError, checksum

REGISTRATION = function_signature_to_4byte_selector("registration(bytes32)")
HASH_CHUNK = 1 << 20
RPC_TIMEOUT = 30.0


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
    add_json_flag(verify)
    verify.set_defaults(handler=verify_design)


def verify_design(ctx: Context, args: argparse.Namespace) -> int:
    rpc_url = args.rpc or ctx.env.get("PRINTFAIR_RPC")
    if not rpc_url:
        raise UsageError("give --rpc URL (or set PRINTFAIR_RPC): any JSON-RPC node of the chain")
    sha256 = _file_sha256(args.file)
    node = _Node(rpc_url)
    chain_id = int(node.call("eth_chainId", []), 16)
    registry = _registry(ctx, args, chain_id)
    if node.call("eth_getCode", [registry, "latest"]) in ("0x", "0x0", None):
        raise CliError(f"there is no contract at {registry} on chain {chain_id}")
    answer = node.call(
        "eth_call",
        [{"to": registry, "data": "0x" + (REGISTRATION + bytes.fromhex(sha256)).hex()}, "latest"],
    )
    try:
        owner_ref, timestamp = abi_decode(["bytes32", "uint64"], bytes.fromhex(answer[2:]))
    except (DecodingError, ValueError, TypeError) as exc:
        raise CliError(f"{registry} on chain {chain_id} is not a DesignRegistry ({exc})") from None
    result: dict[str, Any] = {
        "file": str(args.file),
        "sha256": sha256,
        "chain_id": chain_id,
        "registry": registry,
        "registered": timestamp != 0,
        "registered_at": (
            datetime.fromtimestamp(timestamp, tz=UTC).isoformat() if timestamp else None
        ),
        "owner_ref": "0x" + owner_ref.hex() if timestamp else None,
    }
    if args.json:
        ctx.emit_json(result)
    if not timestamp:
        raise NotVerified(
            f"{args.file} is not registered: no DesignRegistry entry for SHA-256 {sha256} "
            f"on chain {chain_id} at {registry}"
        )
    if not args.json:
        when = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ctx.say(
            f"Registered: {args.file} existed by {when} (chain {chain_id}, DesignRegistry "
            f"{registry}).",
            f"SHA-256          {sha256}",
            f"Owner reference  {result['owner_ref']}",
        )
    return 0


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _registry(ctx: Context, args: argparse.Namespace, chain_id: int) -> str:
    """The registry to ask: given, or the one PrintFair publishes (public, no key), which must be
    on the node's chain."""
    given = args.registry or ctx.env.get("PRINTFAIR_REGISTRY")
    if given:
        try:
            return checksum(given)
        except KeyProofError:
            raise UsageError(f"--registry {given!r} is not an Ethereum address") from None
    info = ApiClient(ctx.api_url, None).get("chain/")
    try:
        published, published_chain = info["contracts"]["DesignRegistry"], int(info["chain_id"])
    except (KeyError, TypeError, ValueError):
        raise CliError(
            f"PrintFair at {ctx.api_url} publishes no DesignRegistry: give --registry"
        ) from None
    if published_chain != chain_id:
        raise CliError(
            f"PrintFair at {ctx.api_url} is on chain {published_chain}, the node on {chain_id}"
        )
    return checksum(published)


class _Node:
    """Plain JSON-RPC to one node: the check needs no web3 client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def call(self, method: str, params: list[Any]) -> Any:
        try:
            response = self.session.post(
                self.url,
                json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                timeout=RPC_TIMEOUT,
            )
            answer = response.json()
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the node at {self.url}: {exc}") from None
        except ValueError:
            raise CliError(f"{self.url} did not answer JSON-RPC: is it a node?") from None
        if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise CliError(f"the node at {self.url} refused {method}: {error}")
        return answer["result"]
