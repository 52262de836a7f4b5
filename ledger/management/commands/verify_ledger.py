"""Check every anchored record against the chain. Exit status 1 when any record was altered,
removed or never anchored.

    manage.py verify_ledger                     # the whole ledger
    manage.py verify_ledger --since 1d          # batches sealed in the last day (a daily run)
    manage.py verify_ledger --since 2026-12-01  # batches sealed since then

Findings go to standard output, one line each; progress on a long run goes to standard error
every PROGRESS_EVERY seconds (none with -v 0)."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ledger.services.ledger_verification import VerifyProgress, ledger_verify

#: Seconds between two progress lines.
PROGRESS_EVERY = 10.0
#: Processes checking batches side by side, unless --workers says otherwise.
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)
_AGE = re.compile(r"([0-9]+)([dh])")
_SINCE_FORMS = (
    "a date (2026-12-01), a date and time (2026-12-01T06:00, 2026-12-01T06:00+02:00) or an age "
    "in days or hours (7d, 36h); a date or time without an offset is in the TIME_ZONE setting's "
    "time zone"
)


def parse_since(value: str, *, now: datetime) -> datetime:
    """The moment `--since` names (see _SINCE_FORMS), or CommandError."""
    age = _AGE.fullmatch(value)
    if age is not None:
        count, unit = int(age[1]), age[2]
        try:
            return now - (timedelta(days=count) if unit == "d" else timedelta(hours=count))
        except OverflowError:
            raise CommandError(f"--since {value} reaches back before the year 1.") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since takes {_SINCE_FORMS}; got {value!r}.") from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > now:
        raise CommandError(f"--since {value} is in the future: no batch was sealed since then.")
    return moment


class Command(BaseCommand):
    help = (
        "Recompute every record's hash and proof and check the roots on chain; with --since, "
        "only the batches sealed since then."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help=f"check only the batches sealed since WHEN: {_SINCE_FORMS}",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=DEFAULT_WORKERS,
            help=f"processes checking batches side by side (default {DEFAULT_WORKERS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = options["since"]
        if since is not None:
            since = parse_since(since, now=timezone.now())
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        which = (
            "every record"
            if since is None
            else f"every record sealed since {since:%Y-%m-%d %H:%M %Z}"
        )
        self._report = options["verbosity"] >= 1
        self._started = self._next_line = time.monotonic()
        counts: Counter[str] = Counter()
        findings = ledger_verify(since=since, workers=options["workers"], progress=self._progress)
        for finding in findings:
            counts[finding.problem] += 1
            self.stdout.write(
                f"{finding.problem.upper():13} {finding.kind}:{finding.record_id}  {finding.detail}"
            )
        if counts:
            summary = ", ".join(f"{n} {problem}" for problem, n in sorted(counts.items()))
            self.stderr.write(self.style.ERROR(f"Ledger verification failed: {summary}."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"Ledger verified: {which} matches the chain."))

    def _progress(self, done: VerifyProgress) -> None:
        """A line before the first batch, one every PROGRESS_EVERY seconds, one after the last."""
        if not self._report:
            return
        now = time.monotonic()
        elapsed = now - self._started
        batches = f"{done.batches_total:,} batches"
        if done.batches == 0:
            line = f"Checking {done.records_total:,} anchored records in {batches}."
        elif done.batches == done.batches_total:
            line = (
                f"Checked {done.records_total:,} anchored records in {batches} in {elapsed:.0f} s."
            )
        elif now >= self._next_line:
            left = elapsed * (done.records_total - done.records) / max(done.records, 1)
            line = (
                f"  {done.records:,} of {done.records_total:,} anchored records checked "
                f"({done.batches:,} of {batches}), {elapsed:.0f} s, about {left:.0f} s left"
            )
        else:
            return
        self.stderr.write(line)
        self._next_line = now + PROGRESS_EVERY
