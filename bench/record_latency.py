#!/usr/bin/env python
"""How long a record takes from its commit to anchored and final, under `make run`'s chain
settings (issue 18): a fresh anvil mining a block every second (ledger run_dev_chain) and the
default finality rule, depth:2, with a fresh database.

Production's background work runs here, in this process, on beat's schedule
(config/celery_app.py): the anchoring task every second, the sender every 2 s and at once when a
batch is sealed (the outbox wakes it), the indexer every 5 s. Records are added as business
changes add them (record_leaf_add, one database transaction each):

(a) alone: --alone records, each added once the one before is final;
(b) under load: --rate records a second for --seconds seconds.

A record's latency runs from its leaf's commit to its batch's anchor transaction being final
(ChainTx.final_at: the "final" the API and the pages report). The peer is the chain's floor, one
block and the finality depth, measured in the same run as the same outbox's latency for a bare
anchor transaction queued on its own (no batch to wait for). Goals: a median of at most 8 s
alone and under load, and batches of at least 100 records under load.

Results go to bench/results/record_latency.json.

    make bench    # or: .venv/bin/python -m bench.record_latency [--alone 10] [--rate 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, django_with_anvil, start_chain

FINALITY = "depth:2"
BLOCK_TIME = 1.0
SEAL_EVERY, SEND_EVERY, INDEX_EVERY = 1.0, 2.0, 5.0
TICK = 0.01
DEADLINE = 120.0


def bench_record(record_id: str) -> dict[str, Any]:
    return {
        "kind": "bench_record",
        "id": record_id,
        "sha256": hashlib.sha256(record_id.encode()).hexdigest(),
    }


class Background:
    """Beat's schedule, run by hand: `tick()` runs what is due."""

    def __init__(self, w3: Any) -> None:
        self.w3 = w3
        now = time.monotonic()
        self.next = {"seal": now, "send": now, "index": now}

    def tick(self) -> None:
        from ledger.services.anchoring import anchor_batches_seal_due
        from ledger.services.indexer import index_chain
        from ledger.services.sender import chaintx_process

        now = time.monotonic()
        woken = False
        if now >= self.next["seal"]:
            woken = anchor_batches_seal_due() > 0
            self.next["seal"] = now + SEAL_EVERY
        if woken or now >= self.next["send"]:
            chaintx_process(w3=self.w3)
            self.next["send"] = now + SEND_EVERY
        if now >= self.next["index"]:
            index_chain(w3=self.w3)
            self.next["index"] = now + INDEX_EVERY

    def until(self, done: Any, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not final after {DEADLINE:.0f} s")
            self.tick()
            time.sleep(TICK)


class Bench:
    def __init__(self, scratch: Path) -> None:
        self.env, self.anvil = django_with_anvil(scratch, finality=FINALITY, block_time=BLOCK_TIME)

    def start(self) -> None:
        from ledger.records import record_kind

        _, _, self.w3 = start_chain(self.anvil)
        record_kind("bench_record", expected_ids=lambda: ())(bench_record)
        self.background = Background(self.w3)
        self.added = 0

    def add(self) -> int:
        from ledger.models import RecordLeaf
        from ledger.services.anchoring import record_leaf_add

        record_id = str(self.added)
        self.added += 1
        leaf: RecordLeaf = record_leaf_add(
            kind="bench_record", record_id=record_id, record=bench_record(record_id)
        )
        return leaf.pk

    def latencies(self, leaf_ids: list[int]) -> list[float]:
        from ledger.models import RecordLeaf

        leaves = RecordLeaf.objects.filter(pk__in=leaf_ids).select_related("batch__chain_tx")
        return [
            (leaf.batch.chain_tx.final_at - leaf.created_at).total_seconds()
            for leaf in leaves
            if leaf.batch is not None
            and leaf.batch.chain_tx is not None
            and leaf.batch.chain_tx.final_at is not None
        ]

    def all_final(self, leaf_ids: list[int]) -> bool:
        from ledger.models import ChainTx, RecordLeaf

        return RecordLeaf.objects.filter(
            pk__in=leaf_ids, batch__chain_tx__status=ChainTx.Status.FINAL
        ).count() == len(leaf_ids)

    def floor(self, rounds: int) -> list[float]:
        """The outbox's latency for a bare anchor transaction: from its commit to final."""
        from django.db import transaction
        from django.utils import timezone

        from ledger.models import ChainTx
        from ledger.services.outbox import chaintx_enqueue

        seconds = []
        for n in range(rounds):
            queued = timezone.now()
            with transaction.atomic():
                row = chaintx_enqueue(
                    idempotency_key=f"bench.floor:{n}",
                    contract="RecordAnchor",
                    function="anchor",
                    args=["0x" + hashlib.sha256(str(n).encode()).hexdigest(), 1, 10_000_000 + n],
                )
            self.background.next["send"] = 0.0  # the outbox's wake-up
            self.background.until(
                lambda row=row: ChainTx.objects.get(pk=row.pk).status == ChainTx.Status.FINAL,
                "a bare anchor",
            )
            final_at = ChainTx.objects.get(pk=row.pk).final_at
            assert final_at is not None
            seconds.append((final_at - queued).total_seconds())
        return seconds

    def alone(self, count: int) -> list[float]:
        seconds = []
        for _ in range(count):
            leaf = self.add()
            self.background.until(lambda leaf=leaf: self.all_final([leaf]), "a record alone")
            seconds.extend(self.latencies([leaf]))
        return seconds

    def load(self, rate: float, duration: float) -> dict[str, Any]:
        from ledger.models import AnchorBatch

        first_batch = AnchorBatch.objects.order_by("-pk").values_list("pk", flat=True).first()
        leaves: list[int] = []
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < duration:
            while len(leaves) < rate * elapsed:
                leaves.append(self.add())
            self.background.tick()
            time.sleep(TICK)
        self.background.until(lambda: self.all_final(leaves), "the load")
        sizes = list(
            AnchorBatch.objects.filter(pk__gt=first_batch or 0)
            .order_by("pk")
            .values_list("leaf_count", flat=True)
        )
        return {"records": len(leaves), "seconds": self.latencies(leaves), "batches": sizes}

    def stop(self) -> None:
        from django.db import connections

        self.anvil.stop()
        connections.close_all()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_s": round(statistics.median(ordered), 2),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max_s": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alone", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="records a second under load")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load lasts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="printfair-bench-") as scratch_name:
        bench = Bench(Path(scratch_name))
        try:
            bench.start()
            floor = bench.floor(args.alone)
            alone = bench.alone(args.alone)
            load = bench.load(args.rate, args.seconds)
        finally:
            bench.stop()
    under_load = load["seconds"]
    results: dict[str, Any] = {
        "finality": FINALITY,
        "block_time_s": BLOCK_TIME,
        "floor": summary(floor),
        "alone": summary(alone),
        "load": {
            "rate_per_s": args.rate,
            "records": load["records"],
            **summary(under_load),
            "batches": load["batches"],
            "smallest_batch_but_the_last": min(load["batches"][:-1] or load["batches"]),
        },
    }
    floor_median = results["floor"]["median_s"]
    print(
        f"Record to anchored and final, anvil mining every {BLOCK_TIME:g} s, finality "
        f"{FINALITY}, background work on beat's schedule:"
    )
    print(f"  the chain's floor (a bare anchor transaction)  median {floor_median:6.2f} s")
    for label, key in (("a record alone", "alone"), ("under load", "load")):
        row = results[key]
        print(
            f"  {label:45s}  median {row['median_s']:6.2f} s  p95 {row['p95_s']:6.2f} s  "
            f"({row['median_s'] / floor_median:.2f}x the floor; goal: median <= 8 s)"
        )
    print(
        f"  under load, {args.rate:g} records/s for {args.seconds:g} s: batches "
        f"{load['batches']} (goal: >= 100 but the last)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "record_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
