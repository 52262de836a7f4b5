#!/usr/bin/env python
"""verify_ledger over a big ledger (issue 18, "fast where users wait"): 1 M records checked
against the chain in at most 2 minutes.

Set-up, not timed: a fresh PostgreSQL database on --pg and a fresh anvil (automine) with the
contracts deployed; one customer and one print shop with --orders funded orders
(bench/common.py funded_order); then quality records added in steps up to each of --sizes
(default 10,000, 100,000 and 1,000,000 records, each step adding to the last): PartRecord rows
bulk-inserted, each record's leaf made as the product makes it (its canonical hash and
OpenZeppelin leaf), sealed PRINTFAIR_ANCHOR_BATCH_SIZE to a batch (one Merkle tree per batch, a
proof on every leaf, the AnchorBatch and RecordLeaf rows bulk-inserted) and the batches' roots
anchored on the anvil through RecordAnchor.anchorMany, the anchoring call the sender batches
anchors into.

At each size, timed: `manage.py verify_ledger` (in process, through call_command) over the whole
ledger, with one record picked at random altered in the database just before, so that every run
must find exactly it among all the others (it is put back afterwards); and, in the same run, the
comparison: reading the records once, a plain pass over the same PartRecord rows
(`PartRecord.objects.order_by().iterator()`), the least any check of every record must do.
Goal: verify_ledger at 1 M records in at most 120 s.

Results go to bench/results/verify.json.

    make bench    # or: .venv/bin/python -m bench.verify [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bids import fresh_database
from bench.common import ROOT, bench_job_spec, django_with_anvil, funded_order, start_chain

SIZES = (10_000, 100_000, 1_000_000)
GOAL_RECORDS, GOAL_SECONDS = 1_000_000, 120
FINALITY = "depth:0"
#: Records a part has (a print's events and its measurements): parts of --orders orders.
RECORDS_PER_PART = 10
#: Batches whose roots one anchorMany transaction anchors (about 25,000 gas a root).
ROOTS_PER_TX = 200
#: Records inserted and sealed per database transaction of the set-up.
INSERT_CHUNK = 20_000
RECEIPT_POLL = 0.01


class Bench:
    def __init__(self, scratch: Path, database_url: str) -> None:
        self.env, self.anvil = django_with_anvil(
            scratch, finality=FINALITY, DATABASE_URL=database_url
        )
        self.random = random.Random(18)
        self.added = 0
        self.batches_added = 0

    def start(self, orders: int) -> None:
        from django.conf import settings
        from django.utils.crypto import get_random_string

        from ledger.contracts import contract
        from marketplace.services import job_create, user_sign_up

        assert settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
        self.config, self.account, self.w3 = start_chain(self.anvil)
        self.anchor = contract(self.w3, "RecordAnchor")
        self.batch_size = settings.PRINTFAIR_ANCHOR_BATCH_SIZE
        password = get_random_string(24)
        customer = user_sign_up(
            email="buyer@bench.example",
            password=password,
            name="Buyer",
            organization_name="Bench Customer",
            kind="customer",
        )
        shop = user_sign_up(
            email="shop@bench.example",
            password=password,
            name="Shop",
            organization_name="Bench Shop",
            kind="print_shop",
        )
        spec = bench_job_spec(reserve=500, bidding=timedelta(hours=1), revealing=timedelta(hours=1))
        self.orders = [
            funded_order(
                job=job_create(actor=customer, spec=spec),
                shop=shop.organization,
                shop_address=self.account.address,
            )
            for _ in range(orders)
        ]

    def stop(self) -> None:
        from django.db import connections

        self.anvil.stop()
        connections.close_all()

    # --- the ledger -------------------------------------------------------------------------

    def grow(self, size: int) -> None:
        """Quality records added, sealed and anchored until the ledger holds `size`."""
        pending: list[tuple[str, int, int]] = []
        while self.added < size:
            pending += self._add(min(INSERT_CHUNK, size - self.added))
            while len(pending) >= ROOTS_PER_TX:
                self._anchor(pending[:ROOTS_PER_TX])
                pending = pending[ROOTS_PER_TX:]
        if pending:
            self._anchor(pending)

    def _add(self, count: int) -> list[tuple[str, int, int]]:
        """`count` records in one database transaction; their batches' (root, leaf count, id)."""
        from django.db import transaction
        from django.utils import timezone

        from ledger.models import AnchorBatch, RecordLeaf
        from printfair.canonical import record_hash
        from printfair.merkle import MerkleTree, record_leaf
        from printshops.models import PartRecord
        from printshops.records import part_record_content
        from printshops.services.production import part_scope

        now = timezone.now()
        records = [self._record(self.added + n, now) for n in range(count)]
        chunks = [records[n : n + self.batch_size] for n in range(0, count, self.batch_size)]
        hashes = [[record_hash(part_record_content(r, evidence=())) for r in c] for c in chunks]
        leaves = [[record_leaf(digest) for digest in chunk] for chunk in hashes]
        trees = [MerkleTree.build(chunk) for chunk in leaves]
        with transaction.atomic():
            _copy(
                PartRecord,
                ("id", "order_id", "part_serial", "seq", "kind", "occurred_at", "data",
                 "characteristic", "passed", "created_at"),
                ((r.pk, r.order_id, r.part_serial, r.seq, r.kind, r.occurred_at, json.dumps(r.data),
                  r.characteristic, r.passed, r.created_at) for r in records),
            )  # fmt: skip
            batches = AnchorBatch.objects.bulk_create(
                AnchorBatch(root=_hex(tree.root), leaf_count=len(tree)) for tree in trees
            )
            _copy(
                RecordLeaf,
                ("kind", "record_id", "record_hash", "leaf_hash", "batch_id", "proof", "scope",
                 "created_at"),
                (("part_record", str(record.pk), _hex(digest), _hex(leaf), batch.pk,
                  json.dumps([_hex(node) for node in tree.proof(leaf)]),
                  part_scope(record.order, record.part_serial), now)
                 for batch, tree, *chunk in zip(batches, trees, chunks, hashes, leaves, strict=True)
                 for record, digest, leaf in zip(*chunk, strict=True)),
            )  # fmt: skip
        self.added += count
        self.batches_added += len(batches)
        return [(batch.root, batch.leaf_count, batch.pk) for batch in batches]

    def _record(self, n: int, now: datetime) -> Any:
        """The `n`th quality record (not saved): a measurement of a part of one of the orders."""
        from printshops.models import PartRecord

        order = self.orders[n % len(self.orders)]
        index = n // len(self.orders)  # the record's place among its order's
        measured = f"{10 + self.random.randrange(-60, 61) / 1000:.3f}"
        return PartRecord(
            order=order,
            part_serial=f"P-{index // RECORDS_PER_PART:06d}",
            seq=index % RECORDS_PER_PART + 1,
            kind=PartRecord.Kind.QUALITY,
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
            data={
                "nominal": "10.00",
                "tolerance": "0.05",
                "measured": measured,
                "unit": "mm",
                "instrument": "Mitutoyo CMM",
            },
            characteristic=f"Bore diameter {index % RECORDS_PER_PART}",
            passed=abs(float(measured) - 10) <= 0.05,
            created_at=now,
        )

    def _anchor(self, batches: Sequence[tuple[str, int, int]]) -> None:
        from ledger.contracts import fee_fields

        roots, counts, ids = zip(*batches, strict=True)
        call = self.anchor.functions.anchorMany(
            [bytes.fromhex(root[2:]) for root in roots], list(counts), list(ids)
        )
        tx: Any = call.build_transaction(
            {
                "from": self.account.address,
                "chainId": self.config.chain_id,
                "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending"),
                **fee_fields(self.w3, self.config.fee_mode),
            }
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=60, poll_latency=RECEIPT_POLL
        )
        if receipt["status"] != 1:
            raise RuntimeError(f"anchorMany {tx_hash.to_0x_hex()} reverted")

    # --- timed ------------------------------------------------------------------------------

    def verify(self) -> dict[str, Any]:
        """verify_ledger over the whole ledger, with one random record altered: its seconds and
        CPU seconds (this process and its workers), having found exactly that record."""
        from django.core.management import call_command

        from printshops.models import PartRecord

        victim = PartRecord.objects.order_by().values("pk", "passed")[
            self.random.randrange(self.added)
        ]
        PartRecord.objects.filter(pk=victim["pk"]).update(passed=not victim["passed"])
        out, err = io.StringIO(), io.StringIO()
        load = os.getloadavg()[0]
        cpu, started = _cpu_seconds(), time.perf_counter()
        try:
            call_command("verify_ledger", stdout=out, stderr=err)
            status = 0
        except SystemExit as exc:
            status = int(exc.code or 0)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        PartRecord.objects.filter(pk=victim["pk"]).update(passed=victim["passed"])
        expected = f"ALTERED       part_record:{victim['pk']}  its content changed"
        if (status, out.getvalue().splitlines()) != (1, [expected]):
            found = out.getvalue()[:2_000]
            raise RuntimeError(f"verify_ledger did not find exactly the altered record: {found}")
        progress = err.getvalue().splitlines()
        return {"seconds": seconds, "cpu_s": cpu, "load": load, "progress_lines": len(progress)}

    def read_once(self) -> float:
        """A plain pass over the same record rows."""
        from printshops.models import PartRecord

        started = time.perf_counter()
        read = sum(1 for _ in PartRecord.objects.order_by().iterator(chunk_size=2_000))
        seconds = time.perf_counter() - started
        if read != self.added:
            raise RuntimeError(f"read {read} records of {self.added}")
        return seconds


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (verify_ledger's workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _copy(model: Any, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Rows into `model`'s table with PostgreSQL's COPY: a million rows in seconds, where
    bulk_create takes minutes. JSON columns are given as JSON text."""
    from django.db import connection
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="ledger sizes in records, ascending, comma-separated",
    )
    parser.add_argument("--orders", type=int, default=100, help="orders the records are of")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 1 or args.orders < 1:
        parser.error("--sizes must be ascending and positive, --orders at least 1")

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="printfair-bench-verify-") as scratch_name,
        fresh_database(args.pg) as database_url,
    ):
        bench = Bench(Path(scratch_name), database_url)
        from ledger.management.commands.verify_ledger import DEFAULT_WORKERS

        try:
            bench.start(args.orders)
            print(
                f"verify_ledger: PostgreSQL (a fresh database), anvil; {DEFAULT_WORKERS} worker "
                f"processes on {os.cpu_count()} cores; one record altered before each run."
            )
            for size in sizes:
                started = time.perf_counter()
                bench.grow(size)
                setup = time.perf_counter() - started
                run = bench.verify()
                read = bench.read_once()
                rows.append(
                    {
                        "records": size,
                        "batches": bench.batches_added,
                        **{k: round(v, 2) for k, v in run.items()},
                        "read_once_s": round(read, 2),
                        "ratio_to_read_once": round(run["seconds"] / read, 2),
                        "records_s": round(size / run["seconds"]),
                        "setup_s": round(setup, 1),
                    }
                )
                print(
                    f"  {size:>9,d} records in {bench.batches_added:>5,d} batches: verify_ledger "
                    f"{run['seconds']:7.2f} s ({run['cpu_s']:.0f} CPU s, load {run['load']:.1f}); "
                    f"reading the records once {read:6.2f} s ({run['seconds'] / read:.1f}x); "
                    f"set-up {setup:.0f} s",
                    flush=True,
                )
        finally:
            bench.stop()
    largest = rows[-1]
    print(
        f"  goal: {GOAL_RECORDS:,} records in at most {GOAL_SECONDS} s; "
        f"{largest['records']:,} took {largest['seconds']:.0f} s"
    )
    results = {
        "workers": DEFAULT_WORKERS,
        "cores": os.cpu_count(),
        "batch_size": bench.batch_size,
        "sizes": {str(row["records"]): row for row in rows},
        "largest": largest,
        "goal": {"records": GOAL_RECORDS, "seconds": GOAL_SECONDS},
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "verify.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
