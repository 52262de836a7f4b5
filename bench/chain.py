#!/usr/bin/env python
"""Gas and throughput of the ledger (DESIGN.md section 4), on an anvil of its own.

(a) Gas per anchored record: one RecordAnchor.anchor of a Merkle root over N records (N = 1, 100,
    1,000, 10,000), the transaction's gas / N, against storing each record hash in contract
    storage in the same run (DesignRegistry.register, or registerMany in chunks), gas / record.
    Goal: at most 50 gas per record at 1,000 and at most 5 at 10,000.
(b) Transactions confirmed per second through the engine: N DesignRegistry.register calls queued
    as outbox rows (chaintx_enqueue), then chaintx_process() passes until all are final, timed
    from the first pass; against a bare web3.py loop sending the same kind of transaction one by
    one (build with gas estimate, sign, send_raw_transaction, wait for the receipt polling every
    1 ms; nonce and fees fetched once, as the engine does per pass). Goal: ratio >= 1.0. Beside
    it, the ceiling: as many pre-signed transactions sent in JSON-RPC batches
    (provider.make_batch_request), until the last receipt.
(c) Records anchored per second end to end: records added as RecordLeafs (record_leaf_add, one
    database transaction each, as business changes do), sealed into batches of
    PRINTFAIR_ANCHOR_BATCH_SIZE, and the anchor transactions sent by the engine until final.

The chain is a fresh anvil in automine mode (a block per transaction, no --block-time) with a new
mnemonic, and the engine's finality rule is depth:0, so "final" means "in a block" for the engine
and the baselines alike. Anvil's cost per block grows with the storage of the contract a block
touches (a register call goes from ~1,200 tx/s with nothing stored to ~40 tx/s with 10,000
records stored), so every measurement starts from the same snapshot: contracts deployed, nothing
stored (evm_snapshot / evm_revert; the ledger's rows of the reverted transactions are deleted with
it). Results go to bench/results/chain.json.

    make bench    # or: .venv/bin/python -m bench.chain [--txs 500] [--rounds 3] [--leaves 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import ROOT, django_with_anvil

ANCHOR_SIZES = (1, 100, 1_000, 10_000)
GAS_GOALS = {1_000: 50.0, 10_000: 5.0}
OWNER_REF = b"\x01" * 32
# On-chain batch ids for (a), far above the AnchorBatch ids that (c) anchors with.
BATCH_ID_BASE = 1 << 40
FINALITY = "depth:0"
PASS_DEADLINE = 120.0
# Seconds without progress after which automine anvil is taken to have stalled.
STALL_AFTER = 1.0
RECEIPT_POLL = 0.001


def fresh_hashes(count: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(count)]


def hex0x(value: bytes) -> str:
    return "0x" + value.hex()


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a killed `make bench`): unwind through the finally blocks that stop anvil.
    raise SystemExit(128 + signum)


class RpcCounter:
    """Counts the JSON-RPC calls a Web3 client makes, by method (batched calls one each)."""

    def __init__(self, w3: Any) -> None:
        self.calls: Counter[str] = Counter()
        provider = w3.provider
        single, batch = provider.make_request, provider.make_batch_request

        def make_request(method: str, params: Any) -> Any:
            self.calls[method] += 1
            return single(method, params)

        def make_batch_request(requests: Sequence[tuple[str, Any]]) -> Any:
            self.calls["(batches)"] += 1
            for method, _ in requests:
                self.calls[method] += 1
            return batch(requests)

        provider.make_request = make_request
        provider.make_batch_request = make_batch_request

    def take(self) -> Counter[str]:
        calls, self.calls = self.calls, Counter()
        return calls


class StepTimer:
    """Seconds spent in each step of the sender's pass (whichever of them the sender has)."""

    STEPS = {"sign_pending": "sign", "broadcast_signed": "broadcast", "follow": "follow"}

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def installed(self) -> Iterator[None]:
        from ledger.services import sender

        originals = {name: getattr(sender, name) for name in self.STEPS if hasattr(sender, name)}
        for name, function in originals.items():
            setattr(sender, name, self._timed(function, self.STEPS[name]))
        try:
            yield
        finally:
            for name, function in originals.items():
                setattr(sender, name, function)

    def _timed(self, function: Callable[..., Any], step: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[step] += time.perf_counter() - started

        return timed

    def take(self) -> dict[str, float]:
        seconds, self.seconds = dict(self.seconds), defaultdict(float)
        return seconds


class Bench:
    def __init__(self, scratch: Path) -> None:
        self.env, self.anvil = django_with_anvil(scratch, finality=FINALITY)
        self.anvil_log = scratch / "anvil.log"

    def start(self) -> None:
        from django.conf import settings

        from ledger.anvil import rpc
        from ledger.chain import chain_config, operator_account, web3_client
        from ledger.contracts import contract, deploy_all

        assert self.anvil.url == settings.CHAIN_RPC_URL, "the settings did not take CHAIN_RPC_URL"
        self.anvil.start()
        self.config = chain_config()
        self.account = operator_account()
        self.w3 = web3_client(self.config)
        self.rpc = RpcCounter(self.w3)
        deploy_all(self.w3, account=self.account, config=self.config)
        self.registry = contract(self.w3, "DesignRegistry")
        self.anchor = contract(self.w3, "RecordAnchor")
        self.steps = StepTimer()
        self.snapshot = rpc(self.anvil.url, "evm_snapshot")

    def fresh_chain(self) -> None:
        """Back to the chain as deployed, the same state for every measurement; and the ledger's
        rows forget the reverted transactions (their nonces are free again)."""
        from ledger.anvil import rpc
        from ledger.models import AnchorBatch, ChainTx, RecordLeaf, Wallet

        if rpc(self.anvil.url, "evm_revert", self.snapshot) is not True:
            raise RuntimeError("anvil did not revert to the snapshot")
        self.snapshot = rpc(self.anvil.url, "evm_snapshot")
        RecordLeaf.objects.all().delete()
        AnchorBatch.objects.all().delete()
        ChainTx.objects.filter(
            batch_head__isnull=False
        ).delete()  # batch members before their heads
        ChainTx.objects.all().delete()
        Wallet.objects.update(next_nonce=None)

    def stop(self) -> None:
        from django.db import connections

        self.anvil.stop()
        connections.close_all()

    # --- direct transactions (gas figures and the bare loop) -------------------------------

    def transact(self, call: Any, nonce: int, fees: dict[str, Any]) -> Any:
        """Build (with eth_estimateGas), sign, send and wait for the receipt of one call."""
        tx = call.build_transaction(
            {"from": self.account.address, "chainId": self.config.chain_id, "nonce": nonce, **fees}
        )
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=60, poll_latency=RECEIPT_POLL
        )
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} reverted")
        return receipt

    def transact_one(self, call: Any) -> int:
        from ledger.contracts import fee_fields

        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        fees = dict(fee_fields(self.w3, self.config.fee_mode))
        return int(self.transact(call, nonce, fees)["gasUsed"])

    # --- (a) gas per record ------------------------------------------------------------------

    def gas(self, chunk: int) -> dict[str, Any]:
        from printfair.merkle import MerkleTree, record_leaf

        rows: dict[str, Any] = {}
        roots = []
        for n, size in enumerate(ANCHOR_SIZES):
            tree = MerkleTree.build([record_leaf(h) for h in fresh_hashes(size)])
            anchor_gas = self.transact_one(
                self.anchor.functions.anchor(tree.root, size, BATCH_ID_BASE + n)
            )
            store_gas = 0
            hashes = fresh_hashes(size)
            if size == 1:
                store_gas = self.transact_one(
                    self.registry.functions.register(hashes[0], OWNER_REF)
                )
            else:
                for start in range(0, size, chunk):
                    part = hashes[start : start + chunk]
                    store_gas += self.transact_one(
                        self.registry.functions.registerMany(part, [OWNER_REF] * len(part))
                    )
            rows[str(size)] = {
                "anchor_gas": anchor_gas,
                "anchor_gas_per_record": anchor_gas / size,
                "store_gas": store_gas,
                "store_gas_per_record": store_gas / size,
                "ratio": (anchor_gas / size) / (store_gas / size),
            }
        # Beside the figures: ten roots of 1,000 records in one anchorMany transaction.
        for _ in range(10):
            tree = MerkleTree.build([record_leaf(h) for h in fresh_hashes(1_000)])
            roots.append(tree.root)
        many_gas = self.transact_one(
            self.anchor.functions.anchorMany(
                roots, [1_000] * 10, [BATCH_ID_BASE + 100 + n for n in range(10)]
            )
        )
        return {
            "sizes": rows,
            "anchor_many_10x1000_gas": many_gas,
            "anchor_many_10x1000_gas_per_record": many_gas / 10_000,
        }

    # --- (b) transactions confirmed per second ----------------------------------------------

    def engine_round(self, count: int, tag: str, *, calls_per_tx: int) -> dict[str, Any]:
        """The engine's throughput; with calls_per_tx=1 each call is its own transaction (the
        same transactions as the bare loop), otherwise calls share transactions (registerMany)."""
        from django.db import transaction

        from ledger.models import ChainTx
        from ledger.services.outbox import chaintx_enqueue
        from ledger.services.sender import signing

        default, signing.CALLS_PER_TX = signing.CALLS_PER_TX, calls_per_tx
        try:
            return {
                **self._engine_round(count, tag, ChainTx, chaintx_enqueue, transaction),
                "calls_per_tx": calls_per_tx,
            }
        finally:
            signing.CALLS_PER_TX = default

    def _engine_round(
        self, count: int, tag: str, ChainTx: Any, chaintx_enqueue: Any, transaction: Any
    ) -> dict[str, Any]:
        prefix = f"bench.register:{tag}:"
        started = time.perf_counter()
        for n, design_hash in enumerate(fresh_hashes(count)):
            with transaction.atomic():
                chaintx_enqueue(
                    idempotency_key=f"{prefix}{n}",
                    contract="DesignRegistry",
                    function="register",
                    args=[hex0x(design_hash), hex0x(OWNER_REF)],
                )
        enqueue_s = time.perf_counter() - started
        rows = ChainTx.objects.filter(idempotency_key__startswith=prefix)
        self.rpc.take()
        self.steps.take()
        passes, started = self._drain(rows, count)
        elapsed = time.perf_counter() - started
        return {
            "tx_s": count / elapsed,
            "seconds": elapsed,
            "passes": passes,
            "anvil_nudges": self.nudges,
            "enqueue_tx_s": count / enqueue_s,
            "steps_s": self.steps.take(),
            "rpc_calls": self.rpc.take(),
        }

    def _drain(self, rows: Any, count: int) -> tuple[int, float]:
        """chaintx_process() passes until `count` rows are final; (passes, perf_counter start)."""
        from ledger.anvil import rpc
        from ledger.models import ChainTx
        from ledger.services.sender import chaintx_process

        passes = 0
        self.nudges = 0
        with self.steps.installed():
            started = last_progress = time.perf_counter()
            while rows.filter(status=ChainTx.Status.FINAL).count() < count:
                failed = rows.filter(status=ChainTx.Status.FAILED).first()
                if failed is not None:
                    raise RuntimeError(f"{failed.idempotency_key} failed: {failed.error}")
                if time.perf_counter() - started > PASS_DEADLINE:
                    states = Counter(rows.values_list("status", flat=True))
                    errors = set(rows.exclude(error="").values_list("error", flat=True)[:3])
                    raise RuntimeError(f"not all final after {passes} passes: {states} {errors}")
                report = chaintx_process(w3=self.w3)
                passes += 1
                if any(vars(report).values()):
                    last_progress = time.perf_counter()
                elif time.perf_counter() - last_progress > STALL_AFTER:
                    # Automine anvil can stop mining a burst part-way (foundry#10122, DESIGN.md
                    # section 4); a block by hand gets it going. Counted and reported.
                    rpc(self.anvil.url, "evm_mine")
                    self.nudges += 1
                    last_progress = time.perf_counter()
                else:
                    time.sleep(0.01)
        return passes, started

    def bare_round(self, count: int) -> dict[str, Any]:
        from ledger.contracts import fee_fields

        hashes = fresh_hashes(count)
        self.rpc.take()
        started = time.perf_counter()
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        fees = dict(fee_fields(self.w3, self.config.fee_mode))
        for n, design_hash in enumerate(hashes):
            self.transact(self.registry.functions.register(design_hash, OWNER_REF), nonce + n, fees)
        elapsed = time.perf_counter() - started
        return {"tx_s": count / elapsed, "seconds": elapsed, "rpc_calls": self.rpc.take()}

    def ceiling_round(self, count: int, batch: int) -> dict[str, Any]:
        from ledger.contracts import fee_fields

        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        fees = dict(fee_fields(self.w3, self.config.fee_mode))
        estimate = self.registry.functions.register(os.urandom(32), OWNER_REF).estimate_gas(
            {"from": self.account.address}
        )
        gas = int(estimate) * 12 // 10
        # Untyped on purpose: raw JSON-RPC, as the sender's batches are.
        provider: Any = self.w3.provider
        raws, hashes = [], []
        for n, design_hash in enumerate(fresh_hashes(count)):
            params: Any = {
                "from": self.account.address,
                "chainId": self.config.chain_id,
                "nonce": nonce + n,
                "gas": gas,
                **fees,
            }
            tx: Any = self.registry.functions.register(design_hash, OWNER_REF).build_transaction(
                params
            )
            signed = self.account.sign_transaction(tx)
            raws.append(signed.raw_transaction.to_0x_hex())
            hashes.append(signed.hash.to_0x_hex())
        started = time.perf_counter()
        for start in range(0, count, batch):
            answers = provider.make_batch_request(
                [("eth_sendRawTransaction", [raw]) for raw in raws[start : start + batch]]
            )
            if not isinstance(answers, list):
                raise RuntimeError(f"batch refused: {answers}")
            errors = [answer["error"] for answer in answers if "error" in answer]
            if errors:
                raise RuntimeError(f"{len(errors)} transactions refused, first: {errors[0]}")
        while (
            provider.make_request("eth_getTransactionReceipt", [hashes[-1]]).get("result") is None
        ):
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        receipts = provider.make_batch_request(
            [("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes]
        )
        good = sum(1 for r in receipts if (r.get("result") or {}).get("status") == "0x1")
        if good != count:
            raise RuntimeError(f"only {good} of {count} pre-signed transactions succeeded")
        return {"tx_s": count / elapsed, "seconds": elapsed}

    # --- (c) records anchored end to end ------------------------------------------------------

    def anchoring(self, leaves: int) -> dict[str, Any]:
        from django.conf import settings

        from ledger.models import AnchorBatch, ChainTx, RecordLeaf
        from ledger.records import record_kind
        from ledger.services.anchoring import (
            anchor_batch_seal,
            anchor_batches_seal_due,
            record_leaf_add,
        )

        def bench_record(record_id: str) -> dict[str, Any]:
            return {
                "kind": "bench_record",
                "id": record_id,
                "sha256": hashlib.sha256(record_id.encode()).hexdigest(),
                "size_bytes": 1000 + int(record_id),
            }

        record_kind("bench_record", expected_ids=lambda: ())(bench_record)
        batch_size = settings.PRINTFAIR_ANCHOR_BATCH_SIZE
        started = time.perf_counter()
        for n in range(leaves):
            record_leaf_add(kind="bench_record", record_id=str(n), record=bench_record(str(n)))
        added = time.perf_counter()
        # What the anchoring task does (full batches), then whatever is left without waiting.
        anchor_batches_seal_due()
        while anchor_batch_seal(force=True) is not None:
            pass
        batches = list(AnchorBatch.objects.all())
        sealed = time.perf_counter()
        rows = ChainTx.objects.filter(anchor_batch__in=batches)
        self.steps.take()
        passes, _ = self._drain(rows, len(batches))
        done = time.perf_counter()
        # The anchored roots prove their records on chain: check one leaf's proof.
        leaf = RecordLeaf.objects.filter(kind="bench_record").order_by("?").first()
        assert leaf is not None and leaf.batch is not None
        proof = [bytes.fromhex(node[2:]) for node in leaf.proof]
        root = bytes.fromhex(AnchorBatch.objects.get(pk=leaf.batch.pk).root[2:])
        if not self.anchor.functions.verify(proof, root, bytes.fromhex(leaf.leaf_hash[2:])).call():
            raise RuntimeError("an anchored record's proof does not verify on chain")
        gas = sum(used or 0 for used in rows.values_list("gas_used", flat=True))
        return {
            "leaves": leaves,
            "batch_size": batch_size,
            "batches": len(batches),
            "add_s": added - started,
            "seal_s": sealed - added,
            "send_s": done - sealed,
            "passes": passes,
            "seconds": done - started,
            "records_s": leaves / (done - started),
            "engine_anchor_gas_per_record": gas / leaves,
        }


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    median = statistics.median_low([r["tx_s"] for r in rounds])
    return next(r for r in rounds if r["tx_s"] == median)


def per_tx(calls: Counter[str], count: int) -> dict[str, float]:
    """JSON-RPC requests per transaction, by method (a batch's requests count one each)."""
    return {m: round(n / count, 3) for m, n in sorted(calls.items()) if m != "(batches)"}


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    """Floats to two decimals, or four significant digits below 1 (a ratio of 1.5e-4)."""
    return {
        k: (round(v, 2) if abs(v) >= 1 else float(f"{v:.4g}")) if isinstance(v, float) else v
        for k, v in row.items()
    }


def print_gas(gas: dict[str, Any], chunk: int) -> None:
    print(
        "(a) Gas per record: one RecordAnchor.anchor of a Merkle root over N records, against "
        f"storing each record hash (DesignRegistry.registerMany, {chunk} records a transaction):"
    )
    print("        N  anchor tx gas  gas/record    stored: total gas  gas/record     ratio")
    for size, row in gas["sizes"].items():
        goal = GAS_GOALS.get(int(size))
        verdict = ""
        if goal is not None:
            met = row["anchor_gas_per_record"] <= goal
            verdict = f"   goal <= {goal:g}: {'met' if met else 'MISSED'}"
        print(
            f"  {int(size):7,d}  {row['anchor_gas']:13,d}  {row['anchor_gas_per_record']:10,.1f}"
            f"  {row['store_gas']:19,d}  {row['store_gas_per_record']:10,.1f}"
            f"  {row['ratio']:8.2e}{verdict}"
        )
    print(
        "  beside: 10 roots of 1,000 records in one anchorMany tx: "
        f"{gas['anchor_many_10x1000_gas']:,d} gas, "
        f"{gas['anchor_many_10x1000_gas_per_record']:.1f} gas/record"
    )


def print_throughput(
    engine: dict[str, Any],
    bare: dict[str, Any],
    ceiling: dict[str, Any],
    batched: dict[str, Any],
    args: Any,
) -> None:
    ratio = engine["tx_s"] / bare["tx_s"]
    steps = ", ".join(f"{step} {s:.2f} s" for step, s in engine["steps_s"].items())
    print(
        f"(b) Transactions confirmed per second, {args.txs} DesignRegistry.register calls, "
        f"median of {args.rounds}:"
    )
    print(
        f"  engine: outbox rows, chaintx_process() passes  {engine['tx_s']:8.1f} tx/s   "
        f"({engine['passes']} passes in {engine['seconds']:.2f} s: {steps}; "
        f"{engine['anvil_nudges']} stalled-anvil nudges)"
    )
    print(f"  bare web3.py loop, one by one                  {bare['tx_s']:8.1f} tx/s")
    print(f"  ratio                                          {ratio:8.3f}   (goal >= 1.0)")
    print(
        f"  ceiling: pre-signed, JSON-RPC batches of {args.rpc_batch:<4d}  "
        f"{ceiling['tx_s']:8.1f} tx/s"
    )
    for name, row in (("engine", engine), ("bare loop", bare)):
        calls = row["rpc_per_tx"]
        listed = ", ".join(f"{m} {n:g}" for m, n in calls.items() if n >= 0.01)
        batches = f"; {row['http_batches']} JSON-RPC batches in all" if row["http_batches"] else ""
        print(f"  JSON-RPC requests per tx, {name}: {sum(calls.values()):.1f} ({listed}{batches})")
    print(f"  (queueing the outbox rows, not timed: {engine['enqueue_tx_s']:.0f} rows/s)")
    print(
        f"  engine, calls batched {batched['calls_per_tx']} per registerMany tx  "
        f"{batched['tx_s']:8.1f} calls/s"
        f"   ({batched['tx_s'] / bare['tx_s']:.1f}x the bare loop)"
    )


def print_anchoring(anchoring: dict[str, Any]) -> None:
    leaves, batches = anchoring["leaves"], anchoring["batches"]
    print(
        f"(c) Records anchored end to end, {leaves:,d} records in batches of "
        f"{anchoring['batch_size']:,d} (PRINTFAIR_ANCHOR_BATCH_SIZE):"
    )
    for label, key in (
        ("add RecordLeafs, one transaction each", "add_s"),
        (f"seal {batches} batches (Merkle tree + proofs)", "seal_s"),
        (f"send {batches} anchor txs until final ({anchoring['passes']} passes)", "send_s"),
    ):
        print(f"  {label:<46s} {anchoring[key]:7.2f} s  {leaves / anchoring[key]:10,.0f} records/s")
    print(
        f"  {'end to end':<46s} {anchoring['seconds']:7.2f} s  "
        f"{anchoring['records_s']:10,.0f} records/s"
    )
    print(
        f"  gas per record of the engine's anchor txs    "
        f"{anchoring['engine_anchor_gas_per_record']:8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=500, help="transactions per round in (b)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (b); the median counts")
    parser.add_argument("--rpc-batch", type=int, default=100, help="JSON-RPC batch of the ceiling")
    parser.add_argument("--chunk", type=int, default=250, help="records per registerMany in (a)")
    parser.add_argument("--leaves", type=int, default=10_000, help="records anchored in (c)")
    args = parser.parse_args()
    for name in ("txs", "rounds", "rpc_batch", "chunk", "leaves"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)

    with tempfile.TemporaryDirectory(prefix="printfair-bench-chain-") as scratch_name:
        bench = Bench(Path(scratch_name))
        try:
            bench.start()
            from ledger.services.sender.signing import CALLS_PER_TX as batch_size

            # (b) first and (a) last: (a) stores 11,000 records, which slows anvil down.
            bench.fresh_chain()
            bench.engine_round(20, "warm", calls_per_tx=1)
            bench.fresh_chain()
            bench.bare_round(20)
            rounds: dict[str, list[dict[str, Any]]] = {
                "engine": [],
                "bare": [],
                "ceiling": [],
                "batched": [],
            }
            for round_ in range(args.rounds):
                bench.fresh_chain()
                rounds["engine"].append(bench.engine_round(args.txs, str(round_), calls_per_tx=1))
                bench.fresh_chain()
                rounds["batched"].append(
                    bench.engine_round(args.txs, f"b{round_}", calls_per_tx=batch_size)
                )
                bench.fresh_chain()
                rounds["bare"].append(bench.bare_round(args.txs))
                bench.fresh_chain()
                rounds["ceiling"].append(bench.ceiling_round(args.txs, args.rpc_batch))
            engine, bare, ceiling, batched = (median_round(rounds[name]) for name in rounds)
            for row in (engine, bare, batched):
                row["http_batches"] = row["rpc_calls"]["(batches)"]
                row["rpc_per_tx"] = per_tx(row.pop("rpc_calls"), args.txs)
            bench.fresh_chain()
            anchoring = bench.anchoring(args.leaves)
            bench.fresh_chain()
            gas = bench.gas(args.chunk)
        except BaseException:
            if bench.anvil_log.exists():
                tail = bench.anvil_log.read_text(errors="replace").splitlines()[-20:]
                print("anvil log (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)
            raise
        finally:
            bench.stop()

    print(
        "Chain: anvil in automine mode (a block per transaction, no --block-time), engine "
        f"finality {FINALITY}, EIP-1559 fees; each measurement from the same snapshot."
    )
    print_gas(gas, args.chunk)
    print_throughput(engine, bare, ceiling, batched, args)
    print_anchoring(anchoring)
    results = {
        "chain": "anvil automine",
        "finality": FINALITY,
        "gas": {
            **{size: rounded(row) for size, row in gas["sizes"].items()},
            "anchor_many_10x1000_gas": gas["anchor_many_10x1000_gas"],
            "anchor_many_10x1000_gas_per_record": round(
                gas["anchor_many_10x1000_gas_per_record"], 1
            ),
            "store_chunk": args.chunk,
        },
        "txs": args.txs,
        "rounds": args.rounds,
        "engine_tx_s": round(engine["tx_s"], 1),
        "bare_tx_s": round(bare["tx_s"], 1),
        "ratio": round(engine["tx_s"] / bare["tx_s"], 3),
        "ceiling_tx_s": round(ceiling["tx_s"], 1),
        "ceiling_rpc_batch": args.rpc_batch,
        "engine_passes": engine["passes"],
        "engine_steps_s": rounded(engine["steps_s"]),
        "engine_rpc_requests_per_tx": engine["rpc_per_tx"],
        "engine_rpc_batches": engine["http_batches"],
        "bare_rpc_requests_per_tx": bare["rpc_per_tx"],
        "engine_batched_calls_s": round(batched["tx_s"], 1),
        "engine_batched_calls_per_tx": batched["calls_per_tx"],
        "anchoring": rounded(anchoring),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "chain.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
