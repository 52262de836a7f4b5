"""``printfair verify ID_OR_FILE --rpc URL``: check a part record or a certificate of
conformance against the chain, with no account and without trusting PrintFair.

The proof bundle (printfair/proofs.py) comes from a file, or from PrintFair's public
``/verify/<id>/proof.json`` (no key). Everything in it is checked here: the record against its
hash (recomputed, RFC 8785 then keccak-256), the Merkle proof against the batch's root, a
certificate's records against the hashes it lists; then a node of the user's choice is asked
whether the RecordAnchor contract holds each root (``anchoredAt(root)``, the block time it was
anchored, 0 if never). Any problem is exit status 3, each problem listed.
"""

from __future__ import annotations

import argparse
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from printfair import safejson
from printfair.cli.commands.base import Parents, Subparsers, add_json_flag
from printfair.cli.errors import CliError, NotVerified, UsageError

if TYPE_CHECKING:
    from printfair.cli.chainread import Node
    from printfair.cli.context import Context
    from printfair.proofs import ProofBundle

__all__ = ["Anchor", "Target", "anchor_points", "describe", "parse_target"]

# The id in a verification URL: https://printfair.example/verify/<uuid>/
VERIFY_URL: Final = re.compile(r"^(?P<base>https?://.+?)/verify/(?P<id>[0-9A-Fa-f-]{32,36})/?")


def add_parser(subparsers: Subparsers, parents: Parents) -> None:
    verify = subparsers.add_parser(
        "verify",
        parents=parents,
        help="check a part record or certificate against the chain (no account needed)",
        description="Check a part record or a certificate of conformance against the chain: "
        "ID_OR_FILE is a saved proof bundle (JSON), or a record or certificate id (a UUID, or "
        "the /verify/<id>/ URL of its page, from a certificate's QR code), whose bundle is "
        "fetched from PrintFair without a key. The record's hash, its Merkle proof and the "
        "root's anchoring are all checked here, the last through your own node (--rpc). Exit "
        "status 3 when anything does not match.",
    )
    verify.add_argument(
        "target", metavar="ID_OR_FILE", help="a proof bundle file, a record id, or its URL"
    )
    verify.add_argument(
        "--rpc",
        metavar="URL",
        help="a JSON-RPC node of the chain (default: $PRINTFAIR_RPC); any node will do",
    )
    verify.add_argument(
        "--anchor",
        metavar="ADDRESS",
        help="the RecordAnchor contract to ask (default: $PRINTFAIR_ANCHOR, else the one the "
        "bundle names)",
    )
    verify.add_argument(
        "--machines",
        metavar="ADDRESS",
        help="the MachineRegistry to ask about machine-attested records' keys (default: "
        "$PRINTFAIR_MACHINES, else the one the bundle names)",
    )
    add_json_flag(verify)
    verify.set_defaults(handler=verify_record)


@dataclass(frozen=True)
class Target:
    """What to verify: a bundle file, or a record id (with the site of the URL it came in)."""

    path: Path | None = None
    record_id: str | None = None
    site: str | None = None


def parse_target(text: str) -> Target:
    """A file that exists, else a UUID, else a ``…/verify/<uuid>/`` URL; a usage error for
    anything else."""
    if Path(text).expanduser().is_file():
        return Target(path=Path(text).expanduser())
    stripped = text.strip()
    try:
        return Target(record_id=str(uuid.UUID(stripped)))
    except ValueError:
        pass
    match = VERIFY_URL.match(stripped)
    if match:
        try:
            return Target(record_id=str(uuid.UUID(match["id"])), site=match["base"])
        except ValueError:
            pass
    raise UsageError(
        f"{text!r} is neither a proof bundle file nor a record or certificate id (a UUID, or "
        "its https://…/verify/<id>/ URL)"
    )


@dataclass(frozen=True)
class Anchor:
    """A root the chain must hold, with the chain and contract its bundle names."""

    root: bytes
    chain_id: int | None
    contract: str | None


def anchor_points(bundle: ProofBundle) -> list[Anchor]:
    """Every distinct root of the bundle and its included bundles, in order."""
    found: dict[bytes, Anchor] = {}
    pending = [bundle]
    while pending:
        item = pending.pop(0)
        if item.root is not None and item.root not in found:
            found[item.root] = Anchor(item.root, item.chain_id, item.anchor_contract)
        pending.extend(item.included)
    return list(found.values())


def describe(bundle: ProofBundle) -> str:
    """What the bundle is about, for people: ``quality #3 of part X4-001, job 42``."""
    record = bundle.record
    serial, job = record.get("part_serial"), record.get("job")
    if bundle.type == "part_record":
        text = f"{record.get('type')} #{record.get('seq')} of part {serial}, job {job}"
        data = record.get("data")
        if record.get("type") == "quality" and isinstance(data, Mapping):
            verdict = "PASS" if record.get("passed") else "FAIL"
            text += (
                f" ({data.get('characteristic')} {data.get('measured')} "
                f"{data.get('unit') or ''}, {verdict})"
            ).replace(" ,", ",")
        return text
    if bundle.type == "certificate":
        return f"certificate of conformance for part {serial} of job {job}"
    if bundle.type == "print_ticket" and serial is not None:
        return f"print ticket of part {serial}, job {job}"
    return f"{bundle.type or 'record'} {bundle.id}"


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _address(text: str, what: str) -> str:
    from printfair.keys import KeyProofError, checksum

    try:
        return checksum(text)
    except KeyProofError:
        raise UsageError(f"{what} {text!r} is not an Ethereum address") from None


def _load(ctx: Context, args: argparse.Namespace, target: Target) -> tuple[Any, str]:
    """The bundle's JSON and where it came from."""
    if target.path is not None:
        try:
            return safejson.loads(target.path.read_text(encoding="utf-8")), str(target.path)
        except OSError as exc:
            raise CliError(f"cannot read {target.path}: {exc.strerror or exc}") from None
        except ValueError:
            raise CliError(f"{target.path} is not JSON: is it a proof bundle?") from None
    from printfair.cli.api import ApiClient, ApiError

    # A URL names its own site, unless --api or $PRINTFAIR_API says otherwise. Where the bundle
    # comes from does not matter for trust: everything in it is checked here.
    explicit = getattr(args, "api", None) or ctx.env.get("PRINTFAIR_API")
    site = ctx.api_url if explicit or target.site is None else target.site
    client = ApiClient(site, None)
    path = f"verify/{target.record_id}/proof.json"
    url = f"{client.base_url}/{path}"
    try:
        return client.get_public(path), url
    except ApiError as exc:
        if exc.status == 404:
            raise NotVerified(
                f"PrintFair at {client.base_url} has no record or certificate {target.record_id}"
            ) from None
        raise


def _anchored_at(node: Node, contract: str, root: bytes) -> int:
    from printfair.proofs import ANCHORED_AT_SELECTOR

    answer = node.call(
        "eth_call", [{"to": contract, "data": "0x" + (ANCHORED_AT_SELECTOR + root).hex()}, "latest"]
    )
    try:
        return int(answer, 16)
    except (TypeError, ValueError):
        raise CliError(f"{contract} answered anchoredAt with {answer!r}") from None


def verify_record(ctx: Context, args: argparse.Namespace) -> int:
    from printfair.cli.chainread import Node
    from printfair.proofs import BundleInvalid, ProofBundle

    rpc_url = args.rpc or ctx.env.get("PRINTFAIR_RPC")
    if not rpc_url:
        raise UsageError("give --rpc URL (or set PRINTFAIR_RPC): any JSON-RPC node of the chain")
    given_anchor = args.anchor or ctx.env.get("PRINTFAIR_ANCHOR")
    pinned = _address(given_anchor, "--anchor") if given_anchor else None
    target = parse_target(args.target)
    data, source = _load(ctx, args, target)
    try:
        bundle = ProofBundle.parse(data)
    except BundleInvalid as exc:
        raise CliError(f"{source} is not a proof bundle this version can read: {exc}") from None

    problems = bundle.offline_problems()
    anchors = anchor_points(bundle)
    checked: list[dict[str, Any]] = []
    machines: list[dict[str, Any]] = []
    chain_id = bundle.chain_id
    if anchors:
        node = Node(rpc_url)
        chain_id = node.chain_id()
        claimed = sorted({a.chain_id for a in anchors if a.chain_id is not None} - {chain_id})
        if claimed:
            raise CliError(
                f"the node at {rpc_url} is on chain {chain_id}, but {source} was anchored on "
                f"chain {', '.join(map(str, claimed))}: give --rpc a node of that chain"
            )
        contracts: dict[str, str | None] = {}  # address -> why it cannot be asked (or None)
        for anchor in anchors:
            root = "0x" + anchor.root.hex()
            contract = pinned
            if contract is None:
                if not anchor.contract:
                    raise UsageError(f"{source} names no anchor contract: give --anchor ADDRESS")
                try:
                    contract = _address(anchor.contract, "the anchor contract")
                except UsageError as exc:
                    raise CliError(f"{source}: {exc.message}") from None
            if contract not in contracts:
                code = node.call("eth_getCode", [contract, "latest"])
                contracts[contract] = (
                    f"there is no contract at {contract} on chain {chain_id}"
                    if code in ("0x", "0x0", None)
                    else None
                )
                if contracts[contract]:
                    problems.append(str(contracts[contract]))
            entry: dict[str, Any] = {
                "root": root,
                "contract": contract,
                "anchored": False,
                "anchored_at": None,
            }
            checked.append(entry)
            if contracts[contract]:
                continue
            try:
                timestamp = _anchored_at(node, contract, anchor.root)
            except CliError as exc:
                contracts[contract] = exc.message
                problems.append(f"{contract} on chain {chain_id} is not a RecordAnchor: {exc}")
                continue
            if timestamp == 0:
                problems.append(f"root {root} is not anchored on chain {chain_id} at {contract}")
                continue
            entry["anchored"] = True
            entry["anchored_at"] = datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
            entry["timestamp"] = timestamp
        machines, machine_problems = _machine_checks(ctx, args, node, bundle, anchors, checked)
        problems.extend(machine_problems)

    listed = bundle.record.get("records") if bundle.type == "certificate" else None
    result: dict[str, Any] = {
        "verified": not problems,
        "source": source,
        "type": bundle.type,
        "id": bundle.id,
        "description": describe(bundle),
        "record_hash": "0x" + bundle.record_hash.hex(),
        "part_serial": bundle.record.get("part_serial"),
        "records": len(listed) if isinstance(listed, list) else None,
        "chain_id": chain_id,
        "anchors": checked,
        "machines": machines,
        "problems": problems,
    }
    if args.json:
        ctx.emit_json(result)
    if problems:
        raise NotVerified(f"{describe(bundle)} is NOT verified", details=problems)
    if not args.json:
        _say_verified(ctx, bundle, result)
    return 0


def _say_verified(ctx: Context, bundle: ProofBundle, result: Mapping[str, Any]) -> None:
    head = f"VERIFIED: {result['description']} ({bundle.type} {bundle.id})"
    if result["records"] is not None:
        count = result["records"]
        head += f": {count} record{'s' if count != 1 else ''}, all anchored"
    lines = [head, f"  record hash  {result['record_hash']} (recomputed from the record)"]
    if bundle.root is not None:
        lines.append(f"  Merkle root  0x{bundle.root.hex()} (batch {bundle.batch})")
    for entry in result["anchors"]:
        lines.append(
            f"  root {entry['root']} anchored at {_utc(entry['timestamp'])} on chain "
            f"{result['chain_id']} by contract {entry['contract']}"
        )
    for machine in result["machines"]:
        lines.append(
            f"  machine-attested: record {machine['record']} signed by machine "
            f"{machine['machine_id']} (event {machine['sequence']}) with key {machine['signer']}, "
            f"registered for it in MachineRegistry {machine['registry']} since "
            f"{_utc(machine['key_approved_at'])}"
        )
    lines.append(f"  from {result['source']}")
    ctx.say(*lines)


def _machine_checks(
    ctx: Context,
    args: argparse.Namespace,
    node: Node,
    bundle: ProofBundle,
    anchors: list[Anchor],
    checked: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The machine-attested records' keys, asked of the MachineRegistry (printfair/cli/attested.py),
    with the time each record's root was anchored."""
    from printfair.cli.attested import machine_checks

    if not bundle.attested():
        return [], []
    given = args.machines or ctx.env.get("PRINTFAIR_MACHINES")
    registry = _address(given, "--machines") if given else None
    roots = {anchor.root: entry for anchor, entry in zip(anchors, checked, strict=True)}
    anchored = {root: entry["timestamp"] for root, entry in roots.items() if "timestamp" in entry}
    return machine_checks(node, registry, bundle, anchored)
