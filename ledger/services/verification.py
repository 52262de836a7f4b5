"""Ledger verification: recompute every anchored record from the live database and check it
against its leaf, its proof and the root on chain (`manage.py verify_ledger`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hexbytes import HexBytes
from web3 import Web3

from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import RecordLeaf
from ledger.records import KINDS
from printfair.canonical import record_hash
from printfair.merkle import process_proof, record_leaf


@dataclass(frozen=True)
class Finding:
    kind: str
    record_id: str
    problem: str  # "altered", "removed" or "not anchored"
    detail: str


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def ledger_verify(*, w3: Web3 | None = None) -> Iterator[Finding]:
    """Every record that does not match what was anchored, or was never anchored."""
    w3 = w3 or web3_client()
    anchor = contract(w3, "RecordAnchor")
    roots_on_chain: dict[str, bool] = {}
    seen: set[tuple[str, str]] = set()
    for leaf in RecordLeaf.objects.select_related("batch").order_by("id").iterator(chunk_size=2000):
        seen.add((leaf.kind, leaf.record_id))
        kind = KINDS.get(leaf.kind)
        if kind is None:
            yield Finding(leaf.kind, leaf.record_id, "altered", "unknown record kind")
            continue
        record = kind.build(leaf.record_id)
        if record is None:
            yield Finding(leaf.kind, leaf.record_id, "removed", "the record is gone")
            continue
        digest = record_hash(record)
        if _hex(digest) != leaf.record_hash:
            yield Finding(leaf.kind, leaf.record_id, "altered", "its content changed")
            continue
        leaf_hash = record_leaf(digest)
        if _hex(leaf_hash) != leaf.leaf_hash:
            yield Finding(leaf.kind, leaf.record_id, "altered", "its stored leaf changed")
            continue
        if leaf.batch is None:
            yield Finding(leaf.kind, leaf.record_id, "not anchored", "waiting for a batch")
            continue
        proof = [HexBytes(node) for node in leaf.proof]
        if _hex(process_proof(leaf_hash, proof)) != leaf.batch.root:
            yield Finding(
                leaf.kind,
                leaf.record_id,
                "altered",
                f"its proof does not lead to batch {leaf.batch.pk}",
            )
            continue
        root = leaf.batch.root
        if root not in roots_on_chain:
            roots_on_chain[root] = anchor.functions.anchoredAt(HexBytes(root)).call() != 0
        if not roots_on_chain[root]:
            yield Finding(
                leaf.kind, leaf.record_id, "not anchored", f"batch {leaf.batch.pk} is not on chain"
            )
    for kind in KINDS.values():
        for record_id in kind.expected_ids():
            if (kind.name, record_id) not in seen:
                yield Finding(kind.name, record_id, "not anchored", "no leaf was ever made")
