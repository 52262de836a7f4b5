"""Anchoring records in Merkle batches (DESIGN.md section 4, "Anchoring").

A business change adds its record with `record_leaf_add` (many at once: `record_leaves_add`) in
its own transaction. The anchoring task (beat, every second) seals the waiting leaves into a batch
when a batch is full, no leaf has come for a moment, or the oldest has waited long enough: one
Merkle tree (printfair/merkle.py), a proof stored on every leaf, and one RecordAnchor.anchor call
through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ledger.models import AnchorBatch, RecordLeaf
from ledger.records import KINDS, RecordContent
from ledger.services.outbox import chaintx_enqueue
from printfair.canonical import record_hash
from printfair.merkle import MerkleTree, record_leaf


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class LeafItem(NamedTuple):
    """One record for `record_leaves_add`: what `record_leaf_add` takes besides the kind."""

    record_id: str
    record: RecordContent
    scope: str = ""


def _leaf_hashes(kind: str, record: RecordContent) -> dict[str, str]:
    """A leaf's stored hashes: the record's canonical hash and its Merkle leaf."""
    if kind not in KINDS:
        raise ValueError(
            f"unknown record kind {kind!r}: register it with ledger.records.record_kind"
        )
    digest = record_hash(record)
    return {"record_hash": _hex(digest), "leaf_hash": _hex(record_leaf(digest))}


def record_leaf_add(
    *, kind: str, record_id: str, record: RecordContent, scope: str = ""
) -> RecordLeaf:
    """Queue a record for anchoring (once per record: a repeat returns the existing leaf).
    `scope` says where it belongs (RecordLeaf.scope)."""
    leaf, _ = RecordLeaf.objects.get_or_create(
        kind=kind,
        record_id=record_id,
        defaults={**_leaf_hashes(kind, record), "scope": scope},
    )
    return leaf


def record_leaves_add(*, kind: str, items: Iterable[LeafItem]) -> list[RecordLeaf]:
    """Queue many records of one kind for anchoring in one statement (per database batch), as
    `record_leaf_add` does one by one; a record that already has a leaf keeps it. Returns the
    leaves as queued, in the order of `items` (for a record that had one, not the one that
    stands)."""
    return RecordLeaf.objects.bulk_create(
        record_leaves(kind=kind, items=items), ignore_conflicts=True
    )


def record_leaves(*, kind: str, items: Iterable[LeafItem]) -> list[RecordLeaf]:
    """The leaves `record_leaves_add` inserts, not saved, for a caller that inserts them with
    rows of its own (`config.rows.Insert(leaves, ignore_conflicts=True)`)."""
    return [
        RecordLeaf(
            kind=kind, record_id=item.record_id, scope=item.scope, **_leaf_hashes(kind, item.record)
        )
        for item in items
    ]


def anchor_batch_seal(
    *,
    batch_size: int | None = None,
    max_age: timedelta | None = None,
    idle: timedelta | None = None,
    force: bool = False,
) -> AnchorBatch | None:
    """Seal the oldest waiting leaves into one batch, if the batch is full, the queue is idle
    (no leaf came for `idle`), the oldest has waited `max_age` (a queue that never goes quiet),
    or `force`. Returns the batch, or None when there was nothing to seal yet.

    Sealing as soon as nothing more is coming, rather than on a clock, keeps a record's way to
    final short when records are few; under load the batches still fill (issue 18)."""
    batch_size = batch_size or settings.PRINTFAIR_ANCHOR_BATCH_SIZE
    max_age = (
        max_age if max_age is not None else timedelta(seconds=settings.PRINTFAIR_ANCHOR_MAX_AGE)
    )
    idle = idle if idle is not None else timedelta(seconds=settings.PRINTFAIR_ANCHOR_IDLE)
    with transaction.atomic():
        leaves = list(
            RecordLeaf.objects.select_for_update(skip_locked=True)
            .filter(batch__isnull=True)
            .order_by("id")[:batch_size]
        )
        if not leaves:
            return None
        now = timezone.now()
        full = len(leaves) >= batch_size
        # Not full: these are all the waiting leaves, the last the newest.
        quiet = leaves[-1].created_at <= now - idle
        due = leaves[0].created_at <= now - max_age
        if not (full or quiet or due or force):
            return None
        tree = MerkleTree.build([bytes.fromhex(leaf.leaf_hash[2:]) for leaf in leaves])
        batch = AnchorBatch.objects.create(root=_hex(tree.root), leaf_count=len(leaves))
        batch.chain_tx = chaintx_enqueue(
            idempotency_key=f"anchor.batch:{batch.pk}",
            contract="RecordAnchor",
            function="anchor",
            args=[batch.root, batch.leaf_count, batch.pk],
        )
        batch.save(update_fields=["chain_tx"])
        for leaf in leaves:
            leaf.batch = batch
            leaf.proof = [_hex(node) for node in tree.proof(bytes.fromhex(leaf.leaf_hash[2:]))]
        RecordLeaf.objects.bulk_update(leaves, ["batch", "proof"], batch_size=1000)
        return batch


def anchor_batches_seal_due() -> int:
    """Seal every batch that is due; the number sealed."""
    sealed = 0
    while anchor_batch_seal() is not None:
        sealed += 1
    return sealed
