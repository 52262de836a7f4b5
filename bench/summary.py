#!/usr/bin/env python
"""The summary `make bench` prints at its end: one row per goal, from what each benchmark wrote
to bench/results/ in this run (issue 18's table, and the earlier issues' goals still measured):
the figure, what it is compared with, the ratio, the goal and whether it is met; and where the
benchmark measures it, the floor: the same ratio for the least the work can cost on this stack
(bench/bids_urls.py's for bids and records, SHA-256's speed for the CLI's download, bench/urls.py's
sealing endpoint for the upload), which
says whether a goal not met is out of reach. A benchmark that did not run says so rather than
show an old figure.

    make bench    # or, after the benchmarks: .venv/bin/python -m bench.summary
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: A result older than this is from another run of `make bench`, not this one.
STALE_AFTER = 6 * 3600


@dataclass(frozen=True)
class Row:
    name: str
    source: str  # results file, without .json
    figure: Callable[[dict[str, Any]], str]
    comparison: str
    value: Callable[[dict[str, Any]], float]  # what the goal is about
    goal: str  # ">= 1.0", "<= 0.1"
    # The same value for the least the work can cost on this stack, where the benchmark measures
    # it: whether a goal not met is out of reach, or how far the product is from the reachable.
    floor: Callable[[dict[str, Any]], float] | None = None


ROWS = [
    Row(
        "encrypted upload, 256 MiB STL",
        "upload",
        lambda r: f"{r['upload_mb_s']:.0f} MB/s",
        "plain storing Django upload",
        lambda r: r["ratio_to_plain"],
        ">= 1.0",
        # Hashing, encrypting and writing the bytes once, and nothing else (bench/urls.py).
        lambda r: r["floor_ratio_to_plain"],
    ),
    Row(
        "geometry while uploading, idle",
        "upload",
        lambda r: f"{r['geometry_s_idle']:.2f} s",
        "the upload's time",
        lambda r: r["geometry_share_idle"],
        "<= 0.1",
    ),
    Row(
        "geometry while uploading, busy cores",
        "upload",
        lambda r: f"{r['geometry_s_busy']:.2f} s",
        "the upload's time, cores busy",
        lambda r: r["geometry_share_busy"],
        "<= 0.1",
    ),
    Row(
        "CLI design get",
        "design_get",
        lambda r: f"{r['cli_mb_s']:.0f} MB/s",
        "plain requests download",
        lambda r: r["ratio"],
        ">= 0.45",
        # A client that checks the plaintext's SHA-256 and keeps the file for good cannot go
        # faster than SHA-256 alone, nor than the disk keeps the file alone.
        lambda r: r["ratio_ceiling"],
    ),
    Row(
        "CLI design get vs curl + sha256sum",
        "design_get",
        lambda r: f"{r['cli_mb_s']:.0f} MB/s",
        "curl -o, then sha256sum",
        lambda r: r["ratio_to_curl_sha256sum"],
        ">= 3",
    ),
    Row(
        "bid API",
        "bids",
        lambda r: f"{r['api']['bids_s']:.0f} bids/s",
        "minimal authenticated endpoint",
        lambda r: r["api"]["ratio"],
        ">= 0.5",
        lambda r: r["api"]["floor_ratio"],
    ),
    Row(
        "bid API, several jobs' bids a request",
        "bids",
        lambda r: f"{r['api']['bulk_bids_s']:.0f} bids/s",
        "minimal endpoint's requests/s",
        lambda r: r["api"]["bulk_ratio"],
        ">= 3",
        lambda r: r["api"]["floor_bulk_ratio"],
    ),
    Row(
        "single quality record",
        "records",
        lambda r: f"{r['api_records_s']:.0f} records/s",
        "minimal authenticated endpoint",
        lambda r: r["api_ratio"],
        ">= 0.4",
        lambda r: r["floor_ratio"],
    ),
    Row(
        "record to final, alone",
        "record_latency",
        lambda r: f"{r['alone']['median_s']:.2f} s median",
        "chain floor (bare anchor tx)",
        lambda r: r["alone"]["median_s"],
        "<= 8",
    ),
    Row(
        "record to final, 100 records/s",
        "record_latency",
        lambda r: f"{r['load']['median_s']:.2f} s median",
        "chain floor (bare anchor tx)",
        lambda r: r["load"]["median_s"],
        "<= 8",
    ),
    Row(
        "batch size under load",
        "record_latency",
        lambda r: f"{r['load']['smallest_batch_but_the_last']} records",
        "—",
        lambda r: r["load"]["smallest_batch_but_the_last"],
        ">= 100",
    ),
    Row(
        "verify_ledger, 1 M records",
        "verify",
        lambda r: (
            f"{r['largest']['seconds']:.0f} s for {r['largest']['records']:,} records "
            f"({r['largest']['ratio_to_read_once']:.1f}x reading them once)"
        ),
        "reading the records once",
        lambda r: r["largest"]["seconds"],
        "<= 120",
    ),
    Row(
        "signed machine events",
        "machines",
        lambda r: f"{r['api']['events_s']:.0f} events/s",
        "minimal authenticated endpoint",
        lambda r: r["api"]["ratio"],
        ">= 2",
    ),
]


def _scaling(name: str, route: str) -> Row:
    """A page's cost at the largest market bench/scaling.py builds, against 1,000 jobs."""
    return Row(
        f"{name}, 100,000 jobs",
        "scaling",
        lambda r: f"{r['routes'][route]['sizes'][str(r['sizes'][-1])]['p50_ms']:.0f} ms p50",
        "the same at 1,000 jobs",
        lambda r: r["routes"][route]["growth"],
        "<= 1.25",
    )


ROWS += [
    _scaling("customer's job list", "job_list"),
    _scaling("job page, open job", "job_page_open"),
    _scaling("job page, funded job", "job_page_funded"),
    _scaling("shop API job list", "api_job_list"),
    _scaling("shop's orders page", "shop_orders"),
    Row(
        "indexer, 100,000 jobs",
        "scaling",
        lambda r: (
            f"{r['indexer']['sizes'][str(r['sizes'][-1])]['s_per_1000']:.1f} s / 1,000 events"
        ),
        "the same at 10 jobs",
        lambda r: r["indexer"]["growth"],
        "<= 1.25",
    ),
]

ROWS.append(
    Row(
        "README walk-through (issue 19)",
        "walk_through",
        lambda r: f"{r['total_s'] / 60:.1f} min, {r['auction_wait_s'] / 60:.1f} the auction's",
        "make run to a verified certificate",
        lambda r: r["total_s"] / 60,
        "<= 15",
    )
)

_OPERATORS = {">=": operator.ge, "<=": operator.le}


def load(source: str) -> dict[str, Any] | None:
    path = RESULTS / f"{source}.json"
    if not path.exists() or time.time() - path.stat().st_mtime > STALE_AFTER:
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def _shown(value: float) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> None:
    header = ("row", "figure", "compared with", "value", "goal", "met", "floor")
    lines = []
    for row in ROWS:
        result = load(row.source)
        if result is None:
            lines.append((row.name, f"bench.{row.source} did not run", "", "", row.goal, "—", ""))
            continue
        value = row.value(result)
        symbol, bound = row.goal.split()
        met = _OPERATORS[symbol](value, float(bound))
        floor = ""
        if row.floor is not None:
            least = row.floor(result)
            reach = "goal in reach" if _OPERATORS[symbol](least, float(bound)) else "out of reach"
            floor = f"{_shown(least)}, {reach}"
        lines.append(
            (
                row.name,
                row.figure(result),
                row.comparison,
                _shown(value),
                row.goal,
                "yes" if met else "NO",
                floor,
            )
        )
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    print()
    print("Summary (bench/results/, this run):")
    for line in [header, *lines]:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
