"""Check every anchored record against the chain. Exit status 1 when any record was altered,
removed or never anchored."""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand

from ledger.services.verification import ledger_verify


class Command(BaseCommand):
    help = "Recompute every record's hash and proof and check the roots on chain."

    def handle(self, *args: Any, **options: Any) -> None:
        counts: Counter[str] = Counter()
        for finding in ledger_verify():
            counts[finding.problem] += 1
            self.stdout.write(
                f"{finding.problem.upper():13} {finding.kind}:{finding.record_id}  {finding.detail}"
            )
        if counts:
            summary = ", ".join(f"{n} {problem}" for problem, n in sorted(counts.items()))
            self.stderr.write(self.style.ERROR(f"Ledger verification failed: {summary}."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("Ledger verified: every record matches the chain."))
