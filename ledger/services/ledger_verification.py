"""The whole ledger checked against the chain (`manage.py verify_ledger`): every anchored
record recomputed from the live database and checked against its leaf, its proof and its
batch's root on chain, every record that should have been anchored looked for.

Batch by batch, a million records in a couple of minutes (issue 18): the leaves and records of
several batches are read in a few queries, each batch's Merkle tree is rebuilt once from its
leaves (a leaf whose stored proof is that tree's needs no hashing of its own), the roots are
asked of the chain in batched calls, and with `workers` the batches are checked in that many
processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from django.db import connection, connections
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import AnchorBatch, RecordLeaf
from ledger.records import KINDS, RecordContent
from ledger.services.verification import Problem, proof_leads_to, record_problem
from printfair.merkle import MerkleTree

#: Leaves read from the database at once: whole batches, as many as fit (a bigger batch is read
#: alone). A million-record ledger takes a few hundred reads, not two queries a record.
READ_LEAVES = 5_000
#: Roots asked of the chain in one JSON-RPC batch request (providers cap a batch's size).
ROOTS_PER_REQUEST = 100


@dataclass(frozen=True)
class Finding:
    kind: str
    record_id: str
    problem: str  # "altered", "removed" or "not anchored"
    detail: str


@dataclass(frozen=True)
class VerifyProgress:
    """How far `ledger_verify` has come through the batches it checks."""

    batches: int
    batches_total: int
    records: int  # as many as the batches checked were anchored with
    records_total: int


class _Batch(NamedTuple):
    id: int
    root: str
    leaf_count: int


class _Leaf(NamedTuple):
    batch_id: int | None
    kind: str
    record_id: str
    record_hash: str
    leaf_hash: str
    proof: list[str]


#: Records rebuilt from the database: kind -> record id -> record, for the kinds of KINDS.
_Records = dict[str, dict[str, RecordContent]]


def ledger_verify(
    *,
    w3: Web3 | None = None,
    since: datetime | None = None,
    workers: int = 1,
    progress: Callable[[VerifyProgress], None] | None = None,
) -> Iterator[Finding]:
    """Every record that does not match what was anchored, or was never anchored, and every
    anchored batch that lost leaves (a record deleted with its leaf): batch by batch, then the
    leaves waiting for a batch, then the records that never got a leaf.

    `since`: only the batches sealed since then (the waiting leaves and the records without a
    leaf are looked at on every run: nothing dates them). `workers`: processes checking batches
    side by side; they read through connections of their own, which see only committed rows,
    so inside a transaction (a caller's atomic block, a test) the check stays in this process.
    `progress` is told before the first batch and after each read."""
    anchor = contract(w3 or web3_client(), "RecordAnchor")
    sealed = AnchorBatch.objects.order_by("id")
    if since is not None:
        sealed = sealed.filter(created_at__gte=since)
    groups = list(
        _read_groups(_Batch(*row) for row in sealed.values_list("id", "root", "leaf_count"))
    )
    done = VerifyProgress(
        0, sum(map(len, groups)), 0, sum(b.leaf_count for group in groups for b in group)
    )
    if progress is not None:
        progress(done)
    # The roots are asked here as each group is handed out, so that workers need no chain.
    tasks = ((group, _roots_on_chain(anchor, [b.root for b in group])) for group in groups)
    if workers > 1 and len(groups) > 1 and not connection.in_atomic_block:
        # Forked workers must not share this process's connections: they open their own.
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from _collect(groups, pool.imap(_group_findings, tasks), done, progress)
    else:
        yield from _collect(groups, map(_group_findings, tasks), done, progress)
    yield from _waiting_findings()
    yield from _never_anchored_findings()


def _collect(
    groups: Sequence[Sequence[_Batch]],
    results: Iterable[list[Finding]],
    done: VerifyProgress,
    progress: Callable[[VerifyProgress], None] | None,
) -> Iterator[Finding]:
    for group, findings in zip(groups, results, strict=True):
        yield from findings
        done = VerifyProgress(
            done.batches + len(group),
            done.batches_total,
            done.records + sum(batch.leaf_count for batch in group),
            done.records_total,
        )
        if progress is not None:
            progress(done)


def _read_groups(batches: Iterable[_Batch]) -> Iterator[list[_Batch]]:
    group: list[_Batch] = []
    leaves = 0
    for batch in batches:
        if group and leaves + batch.leaf_count > READ_LEAVES:
            yield group
            group, leaves = [], 0
        group.append(batch)
        leaves += batch.leaf_count
    if group:
        yield group


def _group_findings(task: tuple[Sequence[_Batch], dict[str, bool]]) -> list[Finding]:
    """The findings of a group of batches, given whether the chain holds each root."""
    group, on_chain = task
    # One range of batch ids: with `since` it may take in a batch sealed before (a clock that
    # went back), whose leaves are left out here.
    rows = RecordLeaf.objects.filter(batch_id__gte=group[0].id, batch_id__lte=group[-1].id)
    leaves: dict[int, list[_Leaf]] = {batch.id: [] for batch in group}
    for row in rows.order_by("batch_id", "id").values_list(*_Leaf._fields):
        leaf = _Leaf(*row)
        if leaf.batch_id in leaves:
            leaves[leaf.batch_id].append(leaf)
    records = _records(leaf for batch in group for leaf in leaves[batch.id])
    findings: list[Finding] = []
    for batch in group:
        findings += _batch_findings(batch, leaves[batch.id], records, on_chain[batch.root])
    return findings


def _batch_findings(
    batch: _Batch, leaves: Sequence[_Leaf], records: _Records, on_chain: bool
) -> Iterator[Finding]:
    tree = _batch_tree(batch, leaves)
    for leaf in leaves:
        problem = _stored_problem(leaf, records) or _proof_problem(leaf, batch, tree)
        if problem is None and not on_chain:
            problem = "not anchored", f"batch {batch.id} is not on chain"
        if problem is not None:
            yield Finding(leaf.kind, leaf.record_id, *problem)
    if len(leaves) < batch.leaf_count:
        missing = batch.leaf_count - len(leaves)
        yield Finding(
            "batch",
            str(batch.id),
            "removed",
            f"{missing} of its {batch.leaf_count} anchored records are gone, with their leaves",
        )


def _batch_tree(batch: _Batch, leaves: Sequence[_Leaf]) -> MerkleTree | None:
    """The batch's Merkle tree rebuilt from its leaves as stored, if it has the batch's root:
    then every leaf is one that was anchored. None when the batch lost leaves or one changed."""
    try:
        tree = MerkleTree.build([bytes.fromhex(leaf.leaf_hash[2:]) for leaf in leaves])
    except ValueError:  # no leaves left, or a stored leaf that is no 32-byte hash
        return None
    return tree if "0x" + tree.root.hex() == batch.root else None


def _proof_problem(leaf: _Leaf, batch: _Batch, tree: MerkleTree | None) -> Problem | None:
    """(problem, detail) of a leaf's stored proof. A proof that is the rebuilt tree's leads to
    the root with no hashing; any other is followed hash by hash, as `leaf_problem` does."""
    if tree is not None:
        proof = tree.proof(bytes.fromhex(leaf.leaf_hash[2:]))
        if ["0x" + node.hex() for node in proof] == leaf.proof:
            return None
    if proof_leads_to(leaf.leaf_hash, leaf.proof, batch.root):
        return None
    return "altered", f"its proof does not lead to batch {batch.id}"


def _stored_problem(leaf: _Leaf, records: _Records) -> Problem | None:
    """(problem, detail) of a leaf's record, rebuilt in `records`, against the leaf's hashes."""
    built = records.get(leaf.kind)
    if built is None:
        return "altered", "unknown record kind"
    return record_problem(built.get(leaf.record_id), leaf.record_hash, leaf.leaf_hash)


def _records(leaves: Iterable[_Leaf]) -> _Records:
    """The records of `leaves` that still exist, rebuilt a kind at a time in big reads."""
    ids: dict[str, list[str]] = {}
    for leaf in leaves:
        ids.setdefault(leaf.kind, []).append(leaf.record_id)
    # As many ids to a query as the database takes (SQLite's limit; PostgreSQL has none).
    step = connection.features.max_query_params or READ_LEAVES
    records: _Records = {}
    for name, record_ids in ids.items():
        if name in KINDS:
            records[name] = {}
            for first in range(0, len(record_ids), step):
                records[name].update(KINDS[name].build_many(record_ids[first : first + step]))
    return records


def _roots_on_chain(anchor: Contract, roots: Sequence[str]) -> dict[str, bool]:
    """Whether RecordAnchor holds each root, in JSON-RPC batch requests."""
    held: dict[str, bool] = {}
    for first in range(0, len(roots), ROOTS_PER_REQUEST):
        asked = roots[first : first + ROOTS_PER_REQUEST]
        with anchor.w3.batch_requests() as batch:
            for root in asked:
                batch.add(anchor.functions.anchoredAt(HexBytes(root)))
            # Decoded as the calls' outputs: anchoredAt's timestamp, 0 for a root never anchored.
            answers = cast(list[int], batch.execute())
        held.update((root, at != 0) for root, at in zip(asked, answers, strict=True))
    return held


def _waiting_findings() -> Iterator[Finding]:
    """The leaves waiting for a batch: not anchored, unless their record is gone or changed."""
    waiting = RecordLeaf.objects.filter(batch__isnull=True).order_by("id")
    last = 0
    while rows := list(waiting.filter(id__gt=last).values_list("id", *_Leaf._fields)[:READ_LEAVES]):
        last = rows[-1][0]
        leaves = [_Leaf(*row[1:]) for row in rows]
        records = _records(leaves)
        for leaf in leaves:
            problem = _stored_problem(leaf, records) or ("not anchored", "waiting for a batch")
            yield Finding(leaf.kind, leaf.record_id, *problem)


def _never_anchored_findings() -> Iterator[Finding]:
    for kind in KINDS.values():
        leaves = RecordLeaf.objects.filter(kind=kind.name).order_by()
        made = set(leaves.values_list("record_id", flat=True).iterator(chunk_size=READ_LEAVES))
        for record_id in kind.expected_ids():
            if record_id not in made:
                yield Finding(kind.name, record_id, "not anchored", "no leaf was ever made")
