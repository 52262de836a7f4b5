"""Proof bundles: everything needed to check an anchored record against the chain, without an
account on PrintFair and without trusting it (DESIGN.md section 4, "Anchoring").

A bundle is a JSON object::

    {"format": "printfair-proof/1",
     "type": "part_record" | "certificate" | …,   the record kind
     "id": "…",
     "record": {…},                 the record itself, as hashed (printfair/canonical.py)
     "record_hash": "0x…",          keccak-256 of its RFC 8785 form
     "proof": ["0x…", …],           sibling hashes from its leaf to the root
     "root": "0x…" | null,          the batch's Merkle root (null: not in a batch yet)
     "batch": 12 | null,
     "chain_id": 31337, "anchor_contract": "0x…",
     "anchor_tx": "0x…" | null, "block_number": 123 | null,
     "included": [bundle, …]}       a certificate's records, each a bundle of its own

The server writes bundles with ``bundle_json`` and a checker reads them with ``ProofBundle.parse``;
``offline_problems`` checks everything but the root's presence on chain, which the caller asks a
node of its choice (``RecordAnchor.anchoredAt(root)``, ``ANCHORED_AT_SELECTOR``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from eth_hash.auto import keccak

from printfair.canonical import JsonValue, record_hash
from printfair.merkle import process_proof, record_leaf

__all__ = [
    "ANCHORED_AT_SELECTOR",
    "FORMAT",
    "BundleInvalid",
    "ProofBundle",
    "bundle_json",
]

FORMAT: Final = "printfair-proof/1"
# RecordAnchor.anchoredAt(bytes32) -> uint256: the root's block time, 0 when never anchored.
ANCHORED_AT_SELECTOR: Final = keccak(b"anchoredAt(bytes32)")[:4]


class BundleInvalid(ValueError):
    """The bundle is not a proof bundle this version can read."""


def _node(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise BundleInvalid(f"{what} must be a 0x-prefixed 32-byte hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BundleInvalid(f"{what} is not hex") from None


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class ProofBundle:
    type: str
    id: str
    record: Mapping[str, JsonValue]
    record_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes | None
    batch: int | None
    chain_id: int | None
    anchor_contract: str | None
    anchor_tx: str | None
    block_number: int | None
    included: tuple[ProofBundle, ...] = field(default=())
    #: Where the keys of the machines that signed its records are registered (MachineRegistry):
    #: named when a record in it is machine-attested.
    machine_registry: str | None = None

    @classmethod
    def parse(cls, data: Any) -> ProofBundle:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise BundleInvalid(f"not a PrintFair proof bundle (format {FORMAT})")
        record = data.get("record")
        if not isinstance(record, Mapping):
            raise BundleInvalid("the bundle has no record")
        proof = data.get("proof") or []
        if not isinstance(proof, list):
            raise BundleInvalid("proof must be a list")
        included = data.get("included") or []
        if not isinstance(included, list):
            raise BundleInvalid("included must be a list")
        root = data.get("root")

        def optional_int(name: str) -> int | None:
            value = data.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise BundleInvalid(f"{name} must be an integer")
            return value

        return cls(
            type=str(data.get("type", "")),
            id=str(data.get("id", "")),
            record=record,
            record_hash=_node(data.get("record_hash"), "record_hash"),
            proof=tuple(_node(node, "a proof element") for node in proof),
            root=None if root is None else _node(root, "root"),
            batch=optional_int("batch"),
            chain_id=optional_int("chain_id"),
            anchor_contract=data.get("anchor_contract"),
            anchor_tx=data.get("anchor_tx"),
            block_number=optional_int("block_number"),
            included=tuple(cls.parse(item) for item in included),
            machine_registry=data.get("machine_registry"),
        )

    def offline_problems(self) -> list[str]:
        """What is wrong without asking the chain: the record against its hash, the proof against
        the root, and for a certificate each included record against the hash it lists."""
        problems: list[str] = []
        name = f"{self.type} {self.id}"
        try:
            computed = record_hash(self.record)
        except (TypeError, ValueError) as exc:
            return [f"{name}: the record cannot be hashed ({exc})"]
        if computed != self.record_hash:
            problems.append(f"{name}: the record does not match its hash (it was changed)")
        elif self.root is None:
            problems.append(f"{name}: not anchored yet (waiting for a batch)")
        elif process_proof(record_leaf(computed), self.proof) != self.root:
            problems.append(f"{name}: the proof does not lead to the batch's root")
        attested = self.attested_by
        if attested is not None:
            # Only here: eth_account's typed data is more than a plain record's check needs.
            from printfair.machine_events import MachineEventError, attested_signer

            try:
                attested_signer(attested)
            except MachineEventError as exc:
                problems.append(f"{name}: the machine's signature does not hold: {exc}")
        listed = self.record.get("records") if self.type == "certificate" else None
        if isinstance(listed, Sequence):
            by_id = {bundle.id: bundle for bundle in self.included}
            for entry in listed:
                if not isinstance(entry, Mapping):
                    problems.append(f"{name}: a listed record is malformed")
                    continue
                bundle = by_id.get(str(entry.get("id")))
                if bundle is None:
                    problems.append(f"{name}: record {entry.get('id')} is missing from the bundle")
                    continue
                if _hex(bundle.record_hash) != entry.get("record_hash"):
                    problems.append(
                        f"{name}: record {bundle.id} is not the one the certificate lists"
                    )
                problems.extend(bundle.offline_problems())
        return problems

    @property
    def attested_by(self) -> Mapping[str, Any] | None:
        """The signed machine event of a machine-attested record (None for anything else)."""
        attested = self.record.get("attested_by") if self.type == "part_record" else None
        return attested if isinstance(attested, Mapping) else None

    def attested(self) -> list[ProofBundle]:
        """This bundle and its included ones that are machine-attested records."""
        found = [self] if self.attested_by is not None else []
        for bundle in self.included:
            found.extend(bundle.attested())
        return found

    def roots(self) -> list[bytes]:
        """Every root the chain must hold for this bundle (its own and its included records')."""
        roots = [self.root] if self.root is not None else []
        for bundle in self.included:
            roots.extend(bundle.roots())
        return list(dict.fromkeys(roots))


def bundle_json(
    *,
    kind: str,
    record_id: str,
    record: Mapping[str, JsonValue],
    anchored_hash: str | None,
    proof: Sequence[str],
    root: str | None,
    batch: int | None,
    chain_id: int | None,
    anchor_contract: str | None,
    anchor_tx: str | None,
    block_number: int | None,
    included: Sequence[Mapping[str, Any]] = (),
    machine_registry: str | None = None,
) -> dict[str, Any]:
    """A bundle as JSON-able data. `anchored_hash` is the record hash that went into the batch
    (so a record changed since shows as changed); without one it is computed from `record`."""
    bundle: dict[str, Any] = {
        "format": FORMAT,
        "type": kind,
        "id": record_id,
        "record": dict(record),
        "record_hash": anchored_hash or _hex(record_hash(record)),
        "proof": list(proof),
        "root": root,
        "batch": batch,
        "chain_id": chain_id,
        "anchor_contract": anchor_contract,
        "anchor_tx": anchor_tx,
        "block_number": block_number,
    }
    if included:
        bundle["included"] = list(included)
    if machine_registry:
        bundle["machine_registry"] = machine_registry
    return bundle
