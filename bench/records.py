#!/usr/bin/env python
"""Quality records (DESIGN.md section 3 step 9, section 4 "Anchoring"): from the shop API to
anchored and final, and gas per record, on a PostgreSQL database and an anvil of their own.

Set-up, not timed: bench/bids.py's (a fresh PostgreSQL database on --pg, a fresh anvil in
automine mode with the engine's finality rule depth:0, bench/bids_settings.py, --shops verified
shops with registered keys and API keys), then for each shop a job of --parts parts with a design
file, awarded to it as a funded order with its licence open (bench/common.py funded_order), a
print ticket for every part through POST /api/v1/jobs/{id}/tickets/, and a warm-up of the
server; everything this queued on chain (design registrations, licences, the tickets' and the
warm-up's records) anchored, sent, final and indexed before the clock starts.

(a) Quality records per second, from the API to anchored and final. --records measurements a round
    (default 2,000: two full batches at the default PRINTFAIR_ANCHOR_BATCH_SIZE of 1,000), spread
    over the shops' parts and their --keys API keys each (see Bench.award) and shuffled, are POSTed
    to /api/v1/jobs/{id}/quality/ (API-key authentication, the order lock, validation, the
    PartRecord row, its RecordLeaf and audit event) by --clients threads to gunicorn with --workers
    sync workers over loopback, the server of bench/bids.py's (a). Meanwhile this process does what
    production's worker and beat do, back to back instead of on beat's intervals (2 s, 1 s, 5 s):
    the anchoring task (anchor_batches_seal_due: a batch is sealed when it is full, no record came
    for PRINTFAIR_ANCHOR_IDLE or its oldest has waited PRINTFAIR_ANCHOR_MAX_AGE, as in production)
    every SEAL_EVERY seconds, sender passes (chaintx_process), and indexer passes
    (index_chain) every INDEX_EVERY seconds. End to end runs from the first POST until every record
    is in a batch whose anchor transaction is final (the "final" anchor state the API reports,
    ledger.services.verification) and the indexer has stored the RootAnchored event of every batch;
    the API part runs from the first POST to the last answer. Both are given as ratios to the
    baseline: the bare authenticated endpoint of the same server (bench/bids_urls.py: the same
    API-key authentication, permission and throttle, the same JSON body parsed, {"ok": true} back),
    sent the same requests with the same keys before, between and after the --rounds rounds of (a);
    the medians of the rounds and of the baseline's runs count. At the end the records API shows
    each shop's records final, and one record is verified against the chain. Then the API part's
    floor, in as many rounds run the same way: the same requests to bench/record_floor.py's
    endpoint, which validates the measurement and writes a record's rows by hand in two
    pipelined round trips and does nothing else (its records anchored and final like the
    product's): the ratio no record path could beat on this stack.
    The same rounds are run again with the measurements sent --batch at a time (one request
    per batch, to POST /api/v1/jobs/{id}/quality/batch/, each batch one job's records), as
    `printfair report csv` sends a sheet: records per second against the same baseline of
    requests per second, so a ratio above 1 means a record costs less than a bare request.
(b) Gas per record, from receipts: the anchor transactions of (a), at the configured batch size
    unless a batch was sealed by age (their gasUsed / the records in them), and for comparison one
    batch each of 1, 100 and 1,000 new quality records (part_record_add, the API's service, in
    process) sealed at that size and anchored alone.

Results go to bench/results/records.json.

    make bench    # or: .venv/bin/python -m bench.records [--records 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.bids import (
    WARM_BARE_REQUESTS,
    Load,
    Server,
    Shop,
    _terminate,
    exchange,
    fire,
    fresh_database,
    http_request,
    tetrahedron_stl,
)
from bench.bids import Bench as BidsBench
from bench.common import ROOT, bench_job_spec, funded_order

FINALITY = "depth:0"
GAS_SIZES = (1, 100, 1_000)
# The anchoring task and the indexer between sender passes; production's beat runs them every
# 1 s and 5 s, which would measure the schedule rather than the work (bench/record_latency.py
# measures the schedule).
SEAL_EVERY = 1.0
INDEX_EVERY = 1.0
# The loop's pause when it has nothing to do (while the API is being fed, mostly): it shares the
# machine with the server.
IDLE_SLEEP = 0.05
# The pause between sender passes waiting for a block, as bench/bids.py's.
POLL = 0.005
# Seconds without progress on a broadcast anchor after which automine anvil is taken to have
# stalled (foundry#10122, DESIGN.md section 4); a block by hand gets it going, counted.
STALL_AFTER = 1.0
RUN_DEADLINE = 300.0
MACHINE = "EOS P 396 #1"


@dataclasses.dataclass
class Award:
    shop: Shop
    job_id: int
    serials: list[str]
    # The shop's API keys: bench/bids.py's, and more (see award).
    tokens: list[str]


@dataclasses.dataclass(frozen=True)
class Posting:
    path: str
    token: str
    body: bytes

    def real(self) -> bytes:
        return http_request(self.path, self.token, self.body)

    def bare(self) -> bytes:
        """The same request to the baseline's endpoint."""
        return http_request("/bench/api/ok/", self.token, self.body)

    def floor(self) -> bytes:
        """The same record to the floor's endpoint (bench/record_floor.py)."""
        job_id = self.path.removeprefix("/api/v1/jobs/").split("/")[0]
        return http_request(f"/bench/api/record-floor/{job_id}/", self.token, self.body)


def quality_body(serial: str, n: int, measured: str) -> bytes:
    return json.dumps(
        {
            "part_serial": serial,
            "characteristic": f"Bore diameter {n}",
            "nominal": "10.00",
            "tolerance": "0.05",
            "measured": measured,
            "unit": "mm",
            "instrument": "Mitutoyo CMM",
        }
    ).encode()


class Bench(BidsBench):
    """bench/bids.py's database, chain, settings and shops; awarded orders instead of auctions."""

    def award(self, parts: int, keys: int) -> list[Award]:
        """A job of `parts` parts with a design file for each shop, awarded to it and funded,
        its licence open, and `keys` API keys of the shop to report with (as a shop's
        measuring stations might each have one); queued chain writes sent."""
        from marketplace.services import design_file_attach, job_create
        from marketplace.uploads import encrypt_chunks
        from printshops.services import api_key_create

        design = tetrahedron_stl()
        jobs = []
        for _ in self.shops:
            spec = bench_job_spec(
                reserve=500, bidding=timedelta(hours=1), revealing=timedelta(hours=1)
            )
            job = job_create(actor=self.customer, spec=dataclasses.replace(spec, quantity=parts))
            design_file_attach(
                actor=self.customer, job=job, upload=encrypt_chunks("bracket.stl", [design])
            )
            jobs.append(job)
        # A licence names registered designs only.
        self.settle()
        awards = []
        for n, (shop, job) in enumerate(zip(self.shops, jobs, strict=True)):
            funded_order(job=job, shop=shop.user.organization, shop_address=shop.account.address)
            serials = [f"S{n}-{p:04d}" for p in range(parts)]
            tokens = [shop.token] + [
                api_key_create(actor=shop.user, name=f"station {k}", expires_at=None)[1]
                for k in range(1, keys)
            ]
            awards.append(Award(shop=shop, job_id=job.pk, serials=serials, tokens=tokens))
        self.settle()
        return awards

    def quality_postings(self, awards: list[Award], count: int) -> list[Posting]:
        """`count` quality measurements spread over every part of `awards`, shuffled."""
        parts = [(award, serial) for award in awards for serial in award.serials]
        postings = []
        for n in range(count):
            award, serial = parts[n % len(parts)]
            measured = f"{10 + self.random.randrange(-60, 61) / 1000:.3f}"
            postings.append(
                Posting(
                    path=f"/api/v1/jobs/{award.job_id}/quality/",
                    token=award.tokens[n % len(award.tokens)],
                    body=quality_body(serial, n // len(parts), measured),
                )
            )
        self.random.shuffle(postings)
        return postings

    def quality_batches(self, awards: list[Award], count: int, size: int) -> list[Posting]:
        """`count` quality measurements as quality_postings makes them, sent `size` to a
        request: each request one job's, shuffled."""
        by_job: dict[str, list[Posting]] = {}
        for posting in self.quality_postings(awards, count):
            by_job.setdefault(posting.path, []).append(posting)
        batches = []
        for path, postings in by_job.items():
            for start in range(0, len(postings), size):
                chunk = postings[start : start + size]
                records = [json.loads(posting.body) for posting in chunk]
                batches.append(
                    Posting(
                        path=path + "batch/",
                        token=chunk[0].token,
                        body=json.dumps({"records": records}).encode(),
                    )
                )
        self.random.shuffle(batches)
        return batches

    def drain(self) -> None:
        """Everything queued so far anchored (any waiting records sealed now), final and
        indexed."""
        from ledger.services.anchoring import anchor_batch_seal
        from ledger.services.indexer import index_chain

        while anchor_batch_seal(force=True) is not None:
            pass
        self.settle()
        index_chain(w3=self.w3)

    # --- (a) --------------------------------------------------------------------------------

    def run(
        self, port: int, requests: list[bytes], clients: int, records: int | None = None
    ) -> dict[str, Any]:
        """The API load in client threads; the anchoring task, the sender and the indexer here,
        until every record of the load (`records`, by default one a request) is final and
        indexed."""
        from django.conf import settings
        from django.db.models import Max

        from ledger.anvil import rpc
        from ledger.models import AnchorBatch, ChainEvent, ChainTx, RecordLeaf
        from ledger.services.anchoring import anchor_batches_seal_due
        from ledger.services.indexer import index_chain
        from ledger.services.sender import chaintx_process

        records = len(requests) if records is None else records
        last_leaf = RecordLeaf.objects.aggregate(last=Max("id"))["last"] or 0
        last_batch = AnchorBatch.objects.aggregate(last=Max("id"))["last"] or 0
        leaves = RecordLeaf.objects.filter(pk__gt=last_leaf)
        batches = AnchorBatch.objects.filter(pk__gt=last_batch)
        anchors = ChainTx.objects.filter(anchor_batch__in=batches)
        loads: list[Load] = []
        client = threading.Thread(target=lambda: loads.append(fire(port, requests, clients, 201)))
        counts: Counter[str] = Counter()
        api_done: float | None = None
        started = time.perf_counter()
        client.start()
        next_seal = next_index = last_progress = started
        while True:
            now = time.perf_counter()
            if now - started > RUN_DEADLINE:
                states = Counter(anchors.values_list("status", flat=True))
                raise RuntimeError(f"not final after {RUN_DEADLINE:.0f} s: anchors {states}")
            if api_done is None and not client.is_alive():
                api_done = now
                load = loads[0]
                if load.statuses[201] != len(requests):
                    raise RuntimeError(
                        f"{load.statuses[201]} of {len(requests)} requests accepted: "
                        f"{dict(load.statuses)}; first refusal: {load.unexpected[:600]!r}"
                    )
            busy = False
            if now >= next_seal:
                if anchor_batches_seal_due():
                    busy, last_progress = True, now
                counts["seal_runs"] += 1
                next_seal = now + SEAL_EVERY
            # A sender pass with nothing of the run's to send does nothing: skip it.
            if anchors.exclude(status=ChainTx.Status.FINAL).exists():
                report = chaintx_process(w3=self.w3)
                counts["sender_passes"] += 1
                failed = anchors.filter(status=ChainTx.Status.FAILED).first()
                if failed is not None:
                    raise RuntimeError(f"{failed.idempotency_key} failed: {failed.error}")
                if any(vars(report).values()):
                    busy = True
                    last_progress = time.perf_counter()
                elif time.perf_counter() - last_progress > STALL_AFTER:
                    rpc(self.anvil.url, "evm_mine")
                    counts["nudges"] += 1
                    last_progress = time.perf_counter()
                else:
                    time.sleep(POLL)
                    busy = True
            elif (
                api_done is not None
                and leaves.filter(batch__chain_tx__status=ChainTx.Status.FINAL).count() == records
            ):
                index_chain(w3=self.w3)
                counts["index_passes"] += 1
                roots = set(batches.values_list("root", flat=True))
                indexed = {
                    args.get("root")
                    for args in ChainEvent.objects.filter(
                        contract="RecordAnchor", name="RootAnchored"
                    ).values_list("args", flat=True)
                }
                if roots <= indexed:
                    break
                busy = True
            if now >= next_index:
                index_chain(w3=self.w3)
                counts["index_passes"] += 1
                next_index = now + INDEX_EVERY
            if not busy:
                time.sleep(IDLE_SLEEP)
        finished = time.perf_counter()
        client.join()
        if leaves.exclude(kind="part_record").exists() or leaves.count() != records:
            raise RuntimeError("the run anchored other records than its quality records")
        transactions = anchors.filter(batch_head__isnull=True)
        gas = sum(int(used or 0) for used in transactions.values_list("gas_used", flat=True))
        return {
            "records": records,
            "requests": len(requests),
            "batch_size": settings.PRINTFAIR_ANCHOR_BATCH_SIZE,
            "batches": batches.count(),
            "batch_leaves": sorted(batches.values_list("leaf_count", flat=True)),
            "anchor_txs": transactions.count(),
            "api_s": loads[0].seconds,
            "api_records_s": records / loads[0].seconds,
            "end_to_end_s": finished - started,
            "end_to_end_records_s": records / (finished - started),
            "tail_s": finished - started - loads[0].seconds,
            "gas_per_record": gas / records,
            "anchor_gas": gas,
            **counts,
        }

    def check(self, port: int, awards: list[Award]) -> None:
        """What the shops see: the first page of each shop's records, listed by the API, all
        final; and the last record verifies against its root on chain."""
        from ledger.services.verification import record_check
        from printshops.models import PartRecord

        for award in awards:
            request = (
                f"GET /api/v1/jobs/{award.job_id}/records/?kind=quality HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAuthorization: Bearer {award.shop.token}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            response = exchange(port, request)
            body = json.loads(response.split(b"\r\n\r\n", 1)[1])
            states = {record["anchor"]["state"] for record in body["results"]}
            if response[9:12] != b"200" or states != {"final"}:
                raise RuntimeError(f"the records API lists anchor states {states}")
        record = PartRecord.objects.order_by("-id").first()
        assert record is not None
        checked = record_check("part_record", str(record.pk), on_chain=True)
        if checked.status != "verified":
            raise RuntimeError(f"record {record.pk}: {checked.status}, {checked.detail}")

    # --- (b) --------------------------------------------------------------------------------

    def gas_by_batch_size(self, awards: list[Award]) -> dict[str, dict[str, Any]]:
        """One batch of each of GAS_SIZES new quality records, sealed at that size and anchored
        in a transaction of its own."""
        from ledger.models import ChainTx
        from ledger.services.anchoring import anchor_batch_seal
        from printshops.models import PartRecord
        from printshops.services.production import part_record_add

        rows: dict[str, dict[str, Any]] = {}
        serial = 0
        parts = [(award, s) for award in awards for s in award.serials]
        for size in GAS_SIZES:
            for n in range(size):
                award, part = parts[serial % len(parts)]
                serial += 1
                part_record_add(
                    actor=award.shop.user,
                    job_id=award.job_id,
                    part_serial=part,
                    kind=PartRecord.Kind.QUALITY,
                    data={
                        "characteristic": f"Wall thickness {n}",
                        "nominal": "2.00",
                        "tolerance": "0.10",
                        "measured": "2.03",
                        "unit": "mm",
                        "instrument": "Mitutoyo CMM",
                    },
                )
            batch = anchor_batch_seal(batch_size=size, force=True)
            if batch is None or batch.leaf_count != size or batch.chain_tx is None:
                raise RuntimeError(f"sealing a batch of {size} records went wrong: {batch}")
            rows_of_batch = ChainTx.objects.filter(pk=batch.chain_tx.pk)
            self.settle(rows_of_batch)
            chain_tx = rows_of_batch.get()
            if chain_tx.batch_head_id is not None:
                raise RuntimeError("the batch was not anchored in a transaction of its own")
            gas = int(chain_tx.gas_used or 0)
            rows[str(size)] = {"anchor_gas": gas, "gas_per_record": gas / size}
        return rows


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<58s} {value:>16s}   {note}".rstrip())


def rounds_of(runs: list[dict[str, Any]]) -> None:
    for n, run in enumerate(runs, 1):
        batches = ", ".join(f"{leaves:,d}" for leaves in run["batch_leaves"])
        line(
            f"  round {n}: API part / end to end / after the last answer",
            f"{run['api_s']:.2f} / {run['end_to_end_s']:.2f} / {run['tail_s']:.2f} s",
            f"(batches of {batches} records, {run['anchor_txs']} anchor txs, "
            f"{run.get('sender_passes', 0)} sender passes, "
            f"{run.get('index_passes', 0)} index passes, {run.get('nudges', 0)} nudges)",
        )


def report(args: Any, results: dict[str, Any]) -> None:
    runs, gas = results["rounds"], results["gas"]

    def each(values: list[float]) -> str:
        return ", ".join(f"{value:.1f}" for value in values)

    print(
        "Quality records: PostgreSQL (a fresh database), anvil in automine mode, engine finality "
        f"{FINALITY}; gunicorn, {args.workers} sync workers, {args.clients} client threads over "
        "loopback."
    )
    print(
        f"(a) {args.records:,d} quality records a round ({args.shops} shops x {args.parts} parts, "
        f"{args.keys} API key{'s' if args.keys != 1 else ''} a shop), "
        f"PRINTFAIR_ANCHOR_BATCH_SIZE {results['batch_size']:,d}; "
        f"median of {len(runs)} rounds, ratios to the baseline:"
    )
    line(
        "baseline: bare authenticated endpoint, same requests",
        f"{results['bare_s']:.1f} req/s",
        f"(before, between and after the rounds: {each(results['rounds_bare_s'])})",
    )
    line(
        "API: POST /api/v1/jobs/{id}/quality/, all accepted",
        f"{results['api_records_s']:.1f} records/s",
        f"ratio {results['api_ratio']:.3f}   (rounds: {each([r['api_records_s'] for r in runs])})",
    )
    line(
        "the floor: the rows by hand, two pipelined round trips",
        f"{results['floor_records_s']:.1f} records/s",
        f"ratio {results['floor_ratio']:.3f}   (rounds: {each(results['rounds_floor_s'])}; "
        "bench/record_floor.py: the most any record path could reach)",
    )
    line(
        "end to end: first POST to all anchored, final, indexed",
        f"{results['end_to_end_records_s']:.1f} records/s",
        f"ratio {results['end_to_end_ratio']:.3f}   "
        f"(rounds: {each([r['end_to_end_records_s'] for r in runs])})",
    )
    rounds_of(runs)
    batched = results["batched"]
    line(
        f"API: POST …/quality/batch/, {args.batch} records a request",
        f"{batched['api_records_s']:.1f} records/s",
        f"ratio {batched['api_ratio']:.3f}   "
        f"(rounds: {each([r['api_records_s'] for r in batched['rounds']])})",
    )
    line(
        "end to end, in batches",
        f"{batched['end_to_end_records_s']:.1f} records/s",
        f"ratio {batched['end_to_end_ratio']:.3f}   "
        f"(rounds: {each([r['end_to_end_records_s'] for r in batched['rounds']])})",
    )
    rounds_of(batched["rounds"])
    print("(b) Gas per quality record, from receipts:")
    line(
        f"the {results['anchor_txs']} anchor txs of (a)'s one-record requests",
        f"{results['anchor_gas_per_record']:,.1f}",
        f"({results['anchor_gas']:,d} gas / {args.records * len(runs):,d} records)",
    )
    for size, row in gas.items():
        default = " (the batch size)" if int(size) == results["batch_size"] else ""
        line(
            f"a batch of {int(size):,d} anchored alone{default}",
            f"{row['gas_per_record']:,.1f}",
            f"({row['anchor_gas']:,d} gas)",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--records", type=int, default=2_000, help="quality records in (a)")
    parser.add_argument("--shops", type=int, default=4, help="shops, one awarded job each")
    parser.add_argument("--parts", type=int, default=25, help="parts (print tickets) per job")
    parser.add_argument("--keys", type=int, default=1, help="API keys per shop")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (a); the median counts")
    parser.add_argument(
        "--batch", type=int, default=100, help="records a request in (a)'s batched rounds"
    )
    parser.add_argument("--warm", type=int, default=100, help="warm-up records, not timed")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    args = parser.parse_args()
    names = ("records", "shops", "parts", "keys", "rounds", "batch", "warm", "workers", "clients")
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    signal.signal(signal.SIGTERM, _terminate)

    with (
        tempfile.TemporaryDirectory(prefix="printfair-bench-records-") as scratch_name,
        fresh_database(args.pg) as database_url,
    ):
        phases: dict[str, float] = {}
        clock = time.perf_counter()
        bench = Bench(Path(scratch_name), database_url)
        try:
            bench.start()
            bench.populate(args.shops, 0)
            awards = bench.award(args.parts, args.keys)
            tickets = [
                http_request(
                    f"/api/v1/jobs/{award.job_id}/tickets/",
                    award.shop.token,
                    json.dumps({"machine": MACHINE, "part_serial": serial}).encode(),
                )
                for award in awards
                for serial in award.serials
            ]
            warm = [posting.real() for posting in bench.quality_postings(awards, args.warm)]
            rounds = [bench.quality_postings(awards, args.records) for _ in range(args.rounds)]
            batched_rounds = [
                bench.quality_batches(awards, args.records, args.batch) for _ in range(args.rounds)
            ]
            floor_rounds = [
                [p.floor() for p in bench.quality_postings(awards, args.records)]
                for _ in range(args.rounds)
            ]
            bare = [posting.bare() for posting in rounds[0]]
            server = Server(bench.env, args.workers)
            try:
                port = server.port
                for requests, expected in (
                    (tickets, 201),
                    (warm, 201),
                    (bare[:WARM_BARE_REQUESTS], 200),
                ):
                    load = fire(port, requests, args.clients, expected)
                    if load.statuses[expected] != len(requests):
                        raise RuntimeError(f"set-up: {load.unexpected[:600]!r}")
                bench.drain()
                phases["set_up_s"], clock = time.perf_counter() - clock, time.perf_counter()
                # The baseline before and after each round: the machine is shared and noisy.
                bares = [fire(port, bare, args.clients, 200)]
                runs = []
                for postings in rounds:
                    runs.append(bench.run(port, [p.real() for p in postings], args.clients))
                    bares.append(fire(port, bare, args.clients, 200))
                batched_runs = []
                for postings in batched_rounds:
                    requests = [p.real() for p in postings]
                    batched_runs.append(bench.run(port, requests, args.clients, args.records))
                    bares.append(fire(port, bare, args.clients, 200))
                bench.check(port, awards)
                # The floor last, run as the product's rounds are (its records anchored too).
                floor_runs = []
                for requests in floor_rounds:
                    floor_runs.append(bench.run(port, requests, args.clients))
                    bares.append(fire(port, bare, args.clients, 200))
                for load in bares:
                    if load.statuses[200] != len(bare):
                        raise RuntimeError(f"bare endpoint: {load.unexpected[:600]!r}")
            finally:
                server.stop()
            phases["measure_a_s"], clock = time.perf_counter() - clock, time.perf_counter()
            gas = bench.gas_by_batch_size(awards)
            phases["measure_b_s"] = time.perf_counter() - clock
        finally:
            bench.stop()

    bare_s = statistics.median(load.per_second() for load in bares)
    api_s = statistics.median(run["api_records_s"] for run in runs)
    floor_s = statistics.median(run["api_records_s"] for run in floor_runs)
    end_to_end_s = statistics.median(run["end_to_end_records_s"] for run in runs)
    batched_api_s = statistics.median(run["api_records_s"] for run in batched_runs)
    batched_end_to_end_s = statistics.median(run["end_to_end_records_s"] for run in batched_runs)
    records = sum(run["records"] for run in runs)
    anchor_gas = sum(run["anchor_gas"] for run in runs)
    results = {
        "shops": args.shops,
        "parts": args.parts,
        "keys": args.keys,
        "workers": args.workers,
        "clients": args.clients,
        "records": args.records,
        "batch_size": runs[0]["batch_size"],
        "bare_s": bare_s,
        "api_records_s": api_s,
        "end_to_end_records_s": end_to_end_s,
        "api_ratio": api_s / bare_s,
        "floor_records_s": floor_s,
        "floor_ratio": floor_s / bare_s,
        "rounds_floor_s": [run["api_records_s"] for run in floor_runs],
        "end_to_end_ratio": end_to_end_s / bare_s,
        "rounds_bare_s": [load.per_second() for load in bares],
        "rounds": runs,
        "batched": {
            "batch": args.batch,
            "api_records_s": batched_api_s,
            "end_to_end_records_s": batched_end_to_end_s,
            "api_ratio": batched_api_s / bare_s,
            "end_to_end_ratio": batched_end_to_end_s / bare_s,
            "rounds": batched_runs,
        },
        "anchor_gas_per_record": anchor_gas / records,
        "anchor_gas": anchor_gas,
        "anchor_txs": sum(run["anchor_txs"] for run in runs),
        "gas": gas,
        "phases": phases,
    }
    report(args, results)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "records.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
