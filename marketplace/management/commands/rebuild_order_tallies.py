"""Count every shop's orders again into its order tally (marketplace/tallies.py), after rows were
written around Order.save (a bulk import, SQL by hand); `--check` only reports the shops whose
tally differs from their orders, and exits 1 if any does."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from marketplace.tallies import shop_order_tallies_drift, shop_order_tallies_rebuild


class Command(BaseCommand):
    help = (
        "Count every shop's orders again into its order tally (its performance figures). "
        "With --check, only report the shops whose tally differs from their orders."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="only report tallies that differ from the orders; exit 1 if any does",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["check"]:
            shops = shop_order_tallies_rebuild()
            noun = "shop" if shops == 1 else "shops"
            self.stdout.write(self.style.SUCCESS(f"Counted the orders of {shops} {noun}."))
            return
        drift = shop_order_tallies_drift()
        if not drift:
            self.stdout.write(self.style.SUCCESS("Every shop's order tally matches its orders."))
            return
        for shop_id, counts in sorted(drift.items()):
            differences = ", ".join(
                f"{name} {tallied} (orders say {counted})"
                for name, (tallied, counted) in counts.items()
            )
            self.stderr.write(self.style.ERROR(f"shop {shop_id}: {differences}"))
        self.stderr.write(f"Run rebuild_order_tallies to count them again ({len(drift)} shops).")
        sys.exit(1)
