#!/usr/bin/env python
"""Machine events (DESIGN.md section 8): signed events ingested per second through the shop API,
and gas per anchored machine event, on a PostgreSQL database and an anvil of their own.

Set-up, not timed: bench/bids.py's (database, anvil, bench/bids_settings.py, --shops shops with
API keys); --machines machines over the shops, each with the key its agent proposed with a pairing
proof approved by the shop with the pairing code (machines.services), registered on chain; every
event signed beforehand as printfair/agent/recorder.py signs it (signing is the agent's cost).

(a) Events applied per second through POST /api/v1/machines/{id}/events/. Each machine prints
    --jobs prints a round: a job's start, --samples progress samples, its end with their digest
    and the meters counted from it (1,000 events), delivered BATCH (500) at a time and in order:
    a machine's events apply in sequence, so each agent sends its next delivery once it has the
    answer to the last, the agents side by side, one client thread each, to gunicorn with
    --workers sync workers over loopback. Against the minimal authenticated endpoint of the same
    server (bench/bids_urls.py: the same API-key authentication, permission and throttle, the JSON
    body parsed, {"ok": true} back) sent --bare one-event deliveries before, between and after the
    --rounds rounds; medians. Goal: events/s >= 2 x its requests/s. Beside it: that endpoint sent
    the rounds' bodies (parsing alone), and in this process the endpoint's time per event, a
    signature's recovery alone, and a cProfile of where the time per event goes.
(b) Gas per anchored machine event, from receipts: job starts, ends and meter readings are anchored
    in Merkle batches (progress samples are not: the job's end carries their digest). Short prints
    (start, end, meters) through the API fill a batch of PRINTFAIR_ANCHOR_BATCH_SIZE and one of
    GAS_LARGE_BATCH, each sealed and anchored in a transaction of its own. Goal: <= 5 gas at
    10,000. An event of the large batch is verified on chain and its signer recovered.

Results go to bench/results/machines.json.

    make bench    # or: .venv/bin/python -m bench.machines [--machines 8] [--jobs 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import profiling
from bench.bids import WARM_BARE_REQUESTS, Server, _terminate, fire, fresh_database
from bench.bids import Bench as BidsBench
from bench.common import BENCH_CHAIN_ID, ROOT
from bench.machine_agents import Agent, deliver
from bench.records import Posting
from printfair.agent.runner import BATCH
from printfair.machine_events import PROGRESS, MachineEvent, attested_signer

GOAL_RATIO = 2.0
GOAL_GAS = 5.0
GAS_LARGE_BATCH = 10_000
# Where the endpoint's time per event goes (bench.machines profiles it): label, the end of the
# function's file name, its name. Indented labels are part of the one above.
PROFILED: tuple[profiling.Named, ...] = (
    ("the whole request (DRF dispatch)", "rest_framework/views.py", "dispatch"),
    ("  API-key authentication", "printshops/authentication.py", "authenticate"),
    ("  JSON body parsed", "config/api.py", "parse"),
    ("  body checked by the serializers", "rest_framework/serializers.py", "is_valid"),
    ("  machine_events_apply", "machines/services.py", "machine_events_apply"),
    ("    signature recovered (MachineEvent.signer)", "printfair/machine_events.py", "signer"),
    ("      EIP-712 digest (encode_typed_data)", "printfair/machine_events.py", "digest"),
    ("      ecrecover (recover_digest)", "printfair/signatures.py", "recover_digest"),
    ("    data checked (check_data)", "printfair/machine_events.py", "check_data"),
    ("    data hashed (record_hash)", "printfair/canonical.py", "record_hash"),
    ("    rows inserted one by one (QuerySet.create)", "django/db/models/query.py", "create"),
    ("    attestation (machine_event_attest)", "machines/attestation.py", "machine_event_attest"),
    ("    a job end's samples checked", "machines/services.py", "_check_samples"),
    ("    record leaves (record_leaves_add)", "ledger/services/anchoring.py", "record_leaves_add"),
    ("    transaction committed", "django/db/backends/base/base.py", "commit"),
    ("  response rendered", "rest_framework/response.py", "rendered_content"),
    ("all SQL statements (cursor.execute)", "django/db/backends/utils.py", "execute"),
)


class Bench(BidsBench):
    """bench/bids.py's database, chain, settings and shops; machines instead of auctions."""

    def machines(self, count: int) -> list[Agent]:
        """`count` machines over the shops, each with an approved key; chain writes sent."""
        from eth_account import Account

        from machines.services import machine_create, machine_key_approve, machine_key_propose
        from printfair.keys import sign_registration
        from printfair.machine_events import pairing_code, pairing_message

        agents = []
        for n in range(count):
            shop = self.shops[n % len(self.shops)]
            machine = machine_create(
                actor=shop.user, make="Prusa", model="MK4", process="fdm", build_x_mm=250,
                build_y_mm=210, build_z_mm=220, serial=f"BENCH-{n}", location="",
            )  # fmt: skip
            key = Account.create()
            message = pairing_message(
                machine_id=machine.pk, address=key.address, chain_id=BENCH_CHAIN_ID
            )
            machine_key_propose(
                actor=shop.user, machine=machine, address=key.address,
                signature=sign_registration(key.key, message),
            )  # fmt: skip
            code = pairing_code(machine_id=machine.pk, address=key.address)
            machine_key_approve(actor=shop.user, machine=machine, code=code)
            agents.append(Agent(machine.pk, key, shop.token, random.Random(n)))
        self.settle()
        return agents

    def ingest(
        self, port: int, rounds: list[list[list[Posting]]], bare: list[bytes]
    ) -> dict[str, Any]:
        """(a): the rounds, each between two runs of the baseline, and each round's bodies sent
        to the baseline's endpoint too."""
        from machines.models import MachineEvent as EventRow

        clients = len(rounds[0])
        bares = [fire(port, bare, clients, 200)]
        bodies, loads, events = [], [], []
        for queues in rounds:
            bodies.append(fire(port, [p.bare() for queue in queues for p in queue], clients, 200))
            stored = EventRow.objects.count()
            load = deliver(port, queues)
            events.append(sum(len(json.loads(p.body)["events"]) for q in queues for p in q))
            if load.statuses[200] != sum(map(len, queues)) or (
                EventRow.objects.count() - stored != events[-1]
            ):
                raise RuntimeError(
                    f"deliveries answered {dict(load.statuses)}, "
                    f"{EventRow.objects.count() - stored} of {events[-1]} events stored; "
                    f"first refusal: {load.unexpected[:600]!r}"
                )
            loads.append(load)
            bares.append(fire(port, bare, clients, 200))
        for load in bares + bodies:
            if load.statuses[200] != sum(load.statuses.values()):
                raise RuntimeError(f"bare endpoint: {load.unexpected[:600]!r}")
        rounds_events_s = [n / load.seconds for n, load in zip(events, loads, strict=True)]
        events_s = statistics.median(rounds_events_s)
        bare_s = statistics.median(load.per_second() for load in bares)
        return {
            "events_per_round": events[0],
            "requests_per_round": sum(loads[0].statuses.values()),
            "events_s": events_s,
            "bare_s": bare_s,
            "ratio": events_s / bare_s,
            # Parsing alone: the rounds' bodies, answered by the minimal endpoint.
            "bodies_events_s": statistics.median(
                n / load.seconds for n, load in zip(events, bodies, strict=True)
            ),
            "rounds_events_s": rounds_events_s,
            "rounds_bare_s": [load.per_second() for load in bares],
        }

    def profile(self, agent: Agent, samples: int) -> dict[str, Any]:
        """The endpoint in this process (Django's test client: no gunicorn, no other request):
        after a warm-up, one print delivered as timed, each of its signatures recovered alone,
        and a second print delivered under cProfile."""
        from django.test import Client

        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {agent.token}")

        def send(postings: list[Posting]) -> None:
            for posting in postings:
                response = client.post(posting.path, posting.body, content_type="application/json")
                if response.status_code != 200:
                    raise RuntimeError(f"in process: {response.content[:600]!r}")

        warm, timed, profiled = agent.job(10), agent.job(samples), agent.job(samples)
        send(agent.deliveries(warm))
        started = time.perf_counter()
        send(agent.deliveries(timed))
        request_s = (time.perf_counter() - started) / len(timed)
        started = time.perf_counter()
        for body in timed:
            signed = {k: body[k] for k in ("sequence", "occurred_at_ms", "kind", "data")}
            event = MachineEvent(machine_id=agent.machine_id, **signed)
            event.signer(bytes.fromhex(body["signature"][2:]), chain_id=BENCH_CHAIN_ID)
        recover_s = (time.perf_counter() - started) / len(timed)
        postings = agent.deliveries(profiled)
        return {
            "request_us": request_s * 1e6,
            "recover_us": recover_s * 1e6,
            **profiling.profile(lambda: send(postings), units=len(profiled), named=PROFILED),
        }

    def anchor_gas(self, port: int, agents: list[Agent]) -> dict[str, Any]:
        """(b): short prints through the API until a batch of each size is waiting, each batch
        then sealed and anchored alone."""
        from django.conf import settings

        from ledger.models import ChainTx, RecordLeaf
        from ledger.records import KINDS
        from ledger.services.anchoring import anchor_batch_seal
        from ledger.services.verification import record_check
        from machines.records import KIND

        while anchor_batch_seal(force=True) is not None:
            pass  # what (a) left waiting, out of the way
        self.settle()
        sizes = sorted({settings.PRINTFAIR_ANCHOR_BATCH_SIZE, GAS_LARGE_BATCH})
        prints = -(-sum(sizes) // 3)  # a print's start, end and meters are anchored
        queues = [
            agent.deliveries([e for _ in range(n, prints, len(agents)) for e in agent.job(0)])
            for n, agent in enumerate(agents)
        ]
        load = deliver(port, queues)
        if load.statuses[200] != sum(map(len, queues)):
            raise RuntimeError(f"short prints: {load.unexpected[:600]!r}")
        rows: dict[str, dict[str, Any]] = {}
        for size in sizes:
            started = time.perf_counter()
            batch = anchor_batch_seal(batch_size=size, force=True)
            sealed_s = time.perf_counter() - started
            if batch is None or batch.leaf_count != size or batch.chain_tx is None:
                raise RuntimeError(f"sealing a batch of {size} events went wrong: {batch}")
            if RecordLeaf.objects.filter(batch=batch).exclude(kind=KIND).exists():
                raise RuntimeError("a batch holds other records than machine events")
            anchor = ChainTx.objects.filter(pk=batch.chain_tx.pk)
            self.settle(anchor)
            if anchor.get().batch_head_id is not None:
                raise RuntimeError("the batch was not anchored in a transaction of its own")
            gas = int(anchor.get().gas_used or 0)
            rows[str(size)] = {"anchor_gas": gas, "gas_per_event": gas / size, "seal_s": sealed_s}
        leaf = RecordLeaf.objects.filter(batch=batch).order_by("-id").first()
        assert leaf is not None
        checked = record_check(KIND, leaf.record_id, on_chain=True)
        record = KINDS[KIND].build(leaf.record_id)
        assert record is not None
        signer = attested_signer(record)
        if checked.status != "verified" or signer not in {a.account.address for a in agents}:
            raise RuntimeError(f"event {leaf.record_id}: {checked.status}, signed by {signer}")
        return rows


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<56s} {value:>16s}   {note}".rstrip())


def report(args: Any, results: dict[str, Any]) -> None:
    api, profile, gas = results["api"], results["profile"], results["gas"]

    def each(values: list[float]) -> str:
        return ", ".join(f"{value:.1f}" for value in values)

    print(
        "Machine events: PostgreSQL (a fresh database), anvil in automine mode; gunicorn, "
        f"{args.workers} sync workers, {args.machines} agents side by side over loopback."
    )
    print(
        f"(a) {api['events_per_round']:,d} events a round ({args.machines} machines x {args.jobs} "
        f"prints of {args.samples + 3:,d} events, {api['requests_per_round']} deliveries of up "
        f"to {BATCH}), median of {args.rounds} rounds:"
    )
    line(
        "POST /api/v1/machines/{id}/events/, every event applied",
        f"{api['events_s']:.1f} events/s",
        f"(rounds: {each(api['rounds_events_s'])})",
    )
    line(
        "minimal authenticated endpoint, one-event bodies",
        f"{api['bare_s']:.1f} req/s",
        f"(before, between and after: {each(api['rounds_bare_s'])})",
    )
    line("ratio events/s / req/s", f"{api['ratio']:.2f}x", f"(goal >= {GOAL_RATIO:g}x)")
    line(
        "the minimal endpoint sent the rounds' bodies (parsed only)",
        f"{api['bodies_events_s']:,.0f} events/s",
    )
    print(
        f"    in this process, no gunicorn: {profile['request_us']:,.0f} us an event; recovering "
        f"its signature alone {profile['recover_us']:,.0f} us "
        f"({profile['recover_us'] / profile['request_us']:.0%})"
    )
    profiling.print_profile(profile, "event", line)
    print("(b) Gas per anchored machine event (job starts, ends, meters), from receipts:")
    for size, row in gas.items():
        default = " (PRINTFAIR_ANCHOR_BATCH_SIZE)" if int(size) == results["batch_size"] else ""
        goal = f"   (goal <= {GOAL_GAS:g})" if int(size) == GAS_LARGE_BATCH else ""
        line(
            f"a batch of {int(size):,d} events{default}",
            f"{row['gas_per_event']:,.2f}",
            f"({row['anchor_gas']:,d} gas; sealed in {row['seal_s']:.2f} s){goal}",
        )
    per_delivered = gas[str(results["batch_size"])]["gas_per_event"] * 3 / (args.samples + 3)
    line(
        "per delivered event of (a)'s prints, at the default batch",
        f"{per_delivered:,.3f}",
        f"(3 of {args.samples + 3:,d} anchored)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--shops", type=int, default=2, help="shops, the machines spread over them")
    parser.add_argument("--machines", type=int, default=8, help="machines, each agent a client")
    parser.add_argument("--jobs", type=int, default=2, help="prints per machine a round of (a)")
    parser.add_argument("--samples", type=int, default=997, help="progress samples a print")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a); the median counts")
    parser.add_argument("--bare", type=int, default=2_000, help="requests a baseline run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args()
    for name in ("shops", "machines", "jobs", "rounds", "bare", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.samples < 0:
        parser.error("--samples must be at least 0")
    signal.signal(signal.SIGTERM, _terminate)

    with (
        tempfile.TemporaryDirectory(prefix="printfair-bench-machines-") as scratch_name,
        fresh_database(args.pg) as database_url,
    ):
        bench = Bench(Path(scratch_name), database_url)
        try:
            bench.start()
            bench.populate(args.shops, 0)
            agents = bench.machines(args.machines)
            warm = [agent.deliveries(agent.job(10)) for agent in agents]
            rounds = [
                [
                    agent.deliveries([e for _ in range(args.jobs) for e in agent.job(args.samples)])
                    for agent in agents
                ]
                for _ in range(args.rounds)
            ]
            # The baseline's body: one signed event, as an agent delivers a quiet printer's news
            # (signed by a copy of an agent, whose numbering goes on without it).
            spare = dataclasses.replace(agents[0])
            one = spare.deliveries([spare.sign(PROGRESS, spare.sample(1, 1))])[0]
            bare = [
                Posting(one.path, agents[n % len(agents)].token, one.body).bare()
                for n in range(args.bare)
            ]
            server = Server(bench.env, args.workers)
            try:
                fire(server.port, bare[:WARM_BARE_REQUESTS], args.machines, 200)
                if deliver(server.port, warm).statuses[200] != sum(map(len, warm)):
                    raise RuntimeError("the warm-up deliveries were refused")
                api = bench.ingest(server.port, rounds, bare)
                gas = bench.anchor_gas(server.port, agents)
            finally:
                server.stop()
            profile = bench.profile(agents[0], args.samples)
        finally:
            bench.stop()

    from django.conf import settings

    results = {
        "shops": args.shops,
        "machines": args.machines,
        "workers": args.workers,
        "samples": args.samples,
        "batch_size": settings.PRINTFAIR_ANCHOR_BATCH_SIZE,
        "api": api,
        "profile": profile,
        "gas": gas,
    }
    report(args, results)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "machines.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
