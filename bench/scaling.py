#!/usr/bin/env python
"""How cost grows with the market (issue 18, "fast where users wait", point 3): the latency of
the pages and the API people wait on, and the indexer's time per 1,000 events, at 10, 1,000 and
100,000 jobs. Goal: none grows faster than the rows it shows, so a page of jobs at 100,000 jobs
costs about what it costs at 1,000.

The market (bench/scaling_market.py: customers' jobs with design files, shops' bids, orders in
every state, their outbox calls and chain events) is grown in bulk in a fresh PostgreSQL
database on --pg, dropped at the end, with bench/bids.py's chain, settings and shops (verified,
with their keys). At each size:

- latency p50 / p95 of --requests GETs of each route through gunicorn (one sync worker,
  persistent database connections as in production) over loopback, one at a time after a
  warm-up, logged in as who uses it: the first customer's job list, its open job's page (sealed
  bids) and its funded job's page (revealed bids ranked with each bidder's performance, the
  order and escrow, the licence); the first shop's open-jobs page, the shop API's job list (its
  key) and the shop's orders page (the jobs it won);
- SQL statements per request, counted in this process with Django's test client;
- the indexer: rounds of --events new chain events (three quarters DesignRegistered of new
  uploads, which the marketplace's handler applies, a quarter RootAnchored, which nothing
  handles) sent through the outbox, then index_chain() passes until they are stored and
  applied, timed, with the SQL statements they took.

Growth is p50 at the largest size over p50 at 1,000 jobs, where every page is already full, each
first divided by the p50 of a constant page (the login form) fetched after each request: other
work on the machine slows both alike, and cancels out (the unadjusted ratio is kept beside it).
The indexer's growth is seconds per 1,000 events (the median of three rounds) at the largest
size over the smallest. Results go to bench/results/scaling.json.

    make bench    # or: .venv/bin/python -m bench.scaling [--sizes 10,1000,100000] [--requests 100]
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bids import Bench as BidsBench
from bench.bids import Server, _terminate, fresh_database
from bench.common import ROOT, bench_job_spec
from bench.scaling_market import DESIGN_FILE, Market, Party

SIZES = (10, 1_000, 100_000)
#: The size whose pages are full: growth is measured from it.
BASE_SIZE = 1_000
#: Indexer rounds per size (odd): the median one counts.
INDEXER_ROUNDS = 3
CUSTOMERS, SHOPS = 8, 12
WARM_REQUESTS = 5
#: Empty blocks mined before the market is grown: its chain events are dated into them.
HISTORY_BLOCKS = 500
#: One event in this many of the indexer's is a RootAnchored (no handler).
ANCHOR_SHARE = 4
# On-chain batch ids of the indexer's anchors, far above any AnchorBatch id.
BATCH_ID_BASE = 1 << 40
HOST = "127.0.0.1"
#: A constant page, fetched after each request of a route: the growth figures divide by it,
#: which takes out what the machine's other work added meanwhile.
BASELINE_PAGE = "/login/"


@dataclass(frozen=True)
class Route:
    key: str
    label: str
    path: str
    who: str  # "customer", "shop" (browser sessions) or "api" (the shop's API key)


class Bench(BidsBench):
    """bench/bids.py's database, chain, settings and shops; a market grown in bulk."""

    def cast(self) -> None:
        """The customers and shops, the chain's history blocks, the market (no jobs yet), the
        routes and who opens them."""
        from django.conf import settings
        from django.test import Client
        from django.utils.crypto import get_random_string
        from eth_account import Account

        from ledger.anvil import rpc
        from marketplace.models import User
        from marketplace.services import user_sign_up

        password = get_random_string(24)
        self.admin = User.objects.create_superuser(email="ops@bench.example", password=password)
        customers = [
            user_sign_up(
                email=f"buyer{n}@bench.example",
                password=password,
                name=f"Buyer {n}",
                organization_name=f"Bench Customer {n}",
                kind="customer",
            )
            for n in range(CUSTOMERS)
        ]
        shops = [self._shop(n, password) for n in range(SHOPS)]
        self.settle()
        self.batch_ids = itertools.count(BATCH_ID_BASE)
        first_block = self.w3.eth.block_number + 1
        rpc(self.anvil.url, "anvil_mine", hex(HISTORY_BLOCKS), timeout=60)
        self.index_until_idle()
        self.market = Market(
            customers=[Party(u.organization, u, Account.create().address) for u in customers],
            shops=[Party(s.user.organization, s.user, s.account.address) for s in shops],
            chain_id=self.config.chain_id,
            operator=self.account.address,
            first_block=first_block,
            blocks=HISTORY_BLOCKS,
        )
        self.clients = {
            "customer": Client(HTTP_HOST=HOST),
            "shop": Client(HTTP_HOST=HOST),
            "api": Client(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Bearer {shops[0].token}"),
        }
        self.clients["customer"].force_login(customers[0])
        self.clients["shop"].force_login(shops[0].user)
        cookie = settings.SESSION_COOKIE_NAME
        self.headers = {
            who: {"Cookie": f"{cookie}={self.clients[who].cookies[cookie].value}"}
            for who in ("customer", "shop")
        }
        self.headers["api"] = {"Authorization": f"Bearer {shops[0].token}"}
        # The market's first two jobs (bench/scaling_market.py MEASURED); ids start at 1.
        self.routes = [
            Route("job_list", "customer's job list", "/jobs/", "customer"),
            Route("job_page_open", "job page, open job", "/jobs/1/", "customer"),
            Route("job_page_funded", "job page, funded job", "/jobs/2/", "customer"),
            Route("shop_open_jobs", "shop's open-jobs page", "/shop/jobs/", "shop"),
            Route("api_job_list", "shop API job list", "/api/v1/jobs/", "api"),
            Route("shop_orders", "shop's orders page", "/shop/orders/", "shop"),
        ]

    def index_until_idle(self) -> int:
        """index_chain() passes until one reads and applies nothing; returns the passes."""
        from ledger.services.indexer import index_chain

        passes = 0
        while True:
            report = index_chain(w3=self.w3)
            passes += 1
            if not report.events and not report.applied:
                return passes

    # --- pages and API ------------------------------------------------------------------------

    def queries(self, route: Route) -> int:
        """SQL statements of one request of `route`, after a first one."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        client = self.clients[route.who]
        client.get(route.path)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(route.path)
        if response.status_code != 200:
            raise RuntimeError(f"{route.path}: {response.status_code}")
        return len(captured)

    def latencies(self, port: int, route: Route, requests: int) -> tuple[list[float], list[float]]:
        """Seconds of `requests` GETs of `route`, one at a time after WARM_REQUESTS, each followed
        by a GET of BASELINE_PAGE: what the machine gave a constant page meanwhile."""
        seconds: tuple[list[float], list[float]] = ([], [])
        for n in range(WARM_REQUESTS + requests):
            measured = (get(port, route.path, self.headers[route.who]), get(port, BASELINE_PAGE))
            if n >= WARM_REQUESTS:
                for series, value in zip(seconds, measured, strict=True):
                    series.append(value)
        return seconds

    def pages(self, requests: int) -> dict[str, dict[str, float]]:
        figures: dict[str, dict[str, float]] = {
            route.key: {"queries": self.queries(route)} for route in self.routes
        }
        server = Server(self.env, workers=1)
        try:
            for route in self.routes:
                seconds, baseline = self.latencies(server.port, route, requests)
                figures[route.key].update(
                    p50_ms=statistics.median(seconds) * 1000,
                    p95_ms=statistics.quantiles(seconds, n=20)[18] * 1000,
                    baseline_p50_ms=statistics.median(baseline) * 1000,
                )
        finally:
            server.stop()
        return figures

    # --- the indexer --------------------------------------------------------------------------

    def indexer(self, events: int) -> dict[str, float]:
        """`events` new chain events sent (not timed), then indexed and applied (timed)."""
        from django.db import connection, transaction
        from django.db.models import Max

        from ledger.models import ChainEvent, ChainTx
        from ledger.services.outbox import chaintx_enqueue

        last_tx = ChainTx.objects.aggregate(top=Max("id"))["top"] or 0
        anchors = events // ANCHOR_SHARE
        self.uploads(events - anchors)
        with transaction.atomic():
            for batch_id in itertools.islice(self.batch_ids, anchors):
                chaintx_enqueue(
                    idempotency_key=f"bench.anchor:{batch_id}",
                    contract="RecordAnchor",
                    function="anchor",
                    args=["0x" + os.urandom(32).hex(), 1, batch_id],
                )
        self.settle(ChainTx.objects.filter(pk__gt=last_tx))
        before = ChainEvent.objects.count()
        statements = 0

        def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            passes = self.index_until_idle()
            seconds = time.perf_counter() - started
        stored = ChainEvent.objects.count() - before
        if stored != events:
            raise RuntimeError(f"the indexer stored {stored} events, not {events}")
        return {
            "s_per_1000": seconds * 1000 / stored,
            "queries_per_1000": statements * 1000 / stored,
            "passes": passes,
        }

    def uploads(self, count: int) -> None:
        """`count` design files uploaded to a new draft job of the second customer (none that a
        measured page shows), their registrations queued in the outbox as an upload queues them
        (marketplace.services.design_registration_enqueue)."""
        from datetime import timedelta

        from marketplace.models import DesignFile
        from marketplace.services import design_registration_enqueue, job_create

        owner = self.market.customers[1]
        spec = bench_job_spec(reserve=500, bidding=timedelta(days=1), revealing=timedelta(days=1))
        job = job_create(actor=owner.user, spec=spec)
        files = []
        for n in range(count):
            sha256 = os.urandom(32).hex()
            registration = design_registration_enqueue(
                sha256=sha256, organization=owner.organization
            )
            files.append(
                DesignFile(
                    job=job, original_name=f"upload-{n}.stl", sha256=sha256,
                    blob=f"designs/{uuid.uuid4()}", uploaded_by=owner.user,
                    registration=registration, **DESIGN_FILE,
                )
            )  # fmt: skip
        DesignFile.objects.bulk_create(files)

    def table_rows(self) -> dict[str, int]:
        from ledger.models import ChainEvent, ChainTx
        from marketplace.models import DesignFile, Job, Order
        from printshops.models import Bid

        models = {
            "jobs": Job, "design_files": DesignFile, "bids": Bid, "orders": Order,
            "chain_txs": ChainTx, "chain_events": ChainEvent,
        }  # fmt: skip
        return {name: model._default_manager.count() for name, model in models.items()}


def get(port: int, path: str, headers: dict[str, str] | None = None) -> float:
    """Seconds a GET of `path` takes, on a new connection (as gunicorn's sync workers close
    each); refused unless it answers 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
    return elapsed


def growth(figures: dict[int, dict[str, float]], key: str, base: int, per: str = "") -> float:
    """The figure at the largest size over the figure at size `base`; with `per`, each figure
    over `per`'s at its size first."""

    def at(size: int) -> float:
        row = figures[size]
        return row[key] / row[per] if per else row[key]

    return round(at(max(figures)) / at(base), 3)


def results_of(
    bench: Bench,
    args: Any,
    pages: dict[int, dict[str, dict[str, float]]],
    indexer: dict[int, dict[str, float]],
    rows: dict[int, dict[str, int]],
) -> dict[str, Any]:
    sizes = sorted(pages)
    base = BASE_SIZE if BASE_SIZE in sizes[:-1] else sizes[0]
    routes: dict[str, dict[str, Any]] = {}
    for route in bench.routes:
        figures = {size: pages[size][route.key] for size in sizes}
        routes[route.key] = {
            "label": route.label,
            "path": route.path,
            "sizes": {str(n): {k: round(v, 2) for k, v in figures[n].items()} for n in sizes},
            "growth": growth(figures, "p50_ms", base, per="baseline_p50_ms"),
            "growth_unadjusted": growth(figures, "p50_ms", base),
        }
    results: dict[str, Any] = {
        "sizes": sizes,
        "base_size": base,
        "requests": args.requests,
        "events": args.events,
        "baseline_page": BASELINE_PAGE,
        "routes": routes,
        "indexer": {
            "sizes": {str(n): {k: round(v, 3) for k, v in indexer[n].items()} for n in sizes},
            "growth": growth(indexer, "s_per_1000", sizes[0]),
        },
        "rows": {str(n): rows[n] for n in sizes},
    }
    growths: list[float] = [route["growth"] for route in routes.values()]
    results["worst_growth"] = max([*growths, results["indexer"]["growth"]])
    return results


def report(results: dict[str, Any]) -> None:
    sizes = results["sizes"]
    columns = "".join(f"{f'{size:,d} jobs':>24s}" for size in sizes)
    print(
        "How cost grows (PostgreSQL; gunicorn, 1 sync worker, loopback): "
        "p50 / p95 ms (SQL statements per request)"
    )
    print(f"  {'':26s}{columns}   growth (unadjusted)")
    for route in results["routes"].values():
        cells = "".join(
            f"{row['p50_ms']:9.1f} /{row['p95_ms']:7.1f} ({row['queries']:2d})".rjust(24)
            for row in (route["sizes"][str(size)] for size in sizes)
        )
        print(
            f"  {route['label']:26s}{cells}   {route['growth']:5.2f}x"
            f" ({route['growth_unadjusted']:.2f}x)"
        )
    bare = [
        statistics.median(
            r["sizes"][str(size)]["baseline_p50_ms"] for r in results["routes"].values()
        )
        for size in sizes
    ]
    cells = "".join(f"{ms:9.1f}".ljust(24) for ms in bare)
    print(f"  {'bare page ' + results['baseline_page']:26s}{cells}")
    indexer = results["indexer"]
    cells = "".join(
        f"{row['s_per_1000']:8.2f} s ({row['queries_per_1000']:,.0f})".rjust(24)
        for row in (indexer["sizes"][str(size)] for size in sizes)
    )
    print(f"  {'indexer, per 1,000 events':26s}{cells}   {indexer['growth']:5.2f}x")
    print(
        f"  growth: p50 at {sizes[-1]:,d} jobs over p50 at {results['base_size']:,d}, each over "
        f"the bare page's p50 measured between its requests (the indexer: seconds per 1,000 "
        f"events over those at {sizes[0]:,d}, the median of {INDEXER_ROUNDS} rounds); goal: 1x"
    )
    for size in sizes:
        counts = ", ".join(f"{n:,d} {name}" for name, n in results["rows"][str(size)].items())
        print(f"  at {size:,d} jobs: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server"
    )
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="jobs, ascending")
    parser.add_argument("--requests", type=int, default=100, help="timed GETs per route and size")
    parser.add_argument("--events", type=int, default=1_000, help="indexed events per round")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if len(sizes) < 2 or sizes[0] < 2 or args.requests < 20 or args.events < ANCHOR_SHARE:
        parser.error(f"two sizes of 2 jobs or more, 20 requests, {ANCHOR_SHARE} events at least")
    signal.signal(signal.SIGTERM, _terminate)

    pages: dict[int, dict[str, dict[str, float]]] = {}
    indexer: dict[int, dict[str, float]] = {}
    rows: dict[int, dict[str, int]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="printfair-bench-scaling-") as scratch,
        fresh_database(args.pg) as database_url,
    ):
        bench = Bench(Path(scratch), database_url)
        try:
            bench.start()
            bench.cast()
            for size in sizes:
                started = time.perf_counter()
                bench.market.grow(size)
                print(f"{size:,d} jobs grown in {time.perf_counter() - started:.0f} s", flush=True)
                pages[size] = bench.pages(args.requests)
                rounds = [bench.indexer(args.events) for _ in range(INDEXER_ROUNDS)]
                indexer[size] = sorted(rounds, key=lambda r: r["s_per_1000"])[INDEXER_ROUNDS // 2]
                rows[size] = bench.table_rows()
        finally:
            bench.stop()

    results = results_of(bench, args, pages, indexer, rows)
    report(results)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
