"""Rewrap every wrapped key (design files' data keys, custodial wallets' private keys) under
PRINTFAIR_KEK_CURRENT without touching file contents; `--check` only reports which KEK versions
are still in use, and exits 1 while any key is not on the current one."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from marketplace.services import kek_rotate, kek_usage
from marketplace.services.keys import BATCH_SIZE


def _plain(message: str) -> str:
    return message


def _keys(n: int) -> str:
    return f"{n} key{'' if n == 1 else 's'}"


def _versions(versions: list[int]) -> str:
    return ("versions " if len(versions) > 1 else "version ") + ", ".join(map(str, versions))


class Command(BaseCommand):
    help = (
        "Rewrap every wrapped key under PRINTFAIR_KEK_CURRENT (file contents are not touched). "
        "With --check, only report the keys per KEK version."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"rows rewrapped per transaction (default {BATCH_SIZE})",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only report keys per KEK version; exit 1 if any is not on the current one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            self._check()
            return
        self._progress_shown = False
        try:
            report = kek_rotate(batch_size=options["batch_size"], progress=self._progress)
        except (DomainError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if self._progress_shown and self.stderr.isatty():
                self.stderr.write("", style_func=_plain)  # end the line updated in place
        current = report.kek_version
        if not report.total:
            self.stdout.write(f"Every wrapped key is already on KEK version {current}.")
            return
        self.stdout.write(
            self.style.SUCCESS(f"Rewrapped {_keys(report.total)} under KEK version {current}:")
        )
        for version, n in report.rewrapped.items():
            self.stdout.write(f"  from version {version}: {n}")
        kinds = ", ".join(f"{kind.replace('_', ' ')}: {n}" for kind, n in report.by_kind.items())
        self.stdout.write(f"  ({kinds})")
        self.stdout.write(
            f"Once rotate_kek --check passes, {_versions(list(report.rewrapped))} can be removed "
            "from PRINTFAIR_KEKS."
        )

    def _progress(self, done: int, total: int) -> None:
        line = f"Rewrapped {done}/{total} keys"
        if self.stderr.isatty():
            self.stderr.write(f"\r{line}", style_func=_plain, ending="")
            self.stderr.flush()
        else:
            self.stderr.write(line, style_func=_plain)
        self._progress_shown = True

    def _check(self) -> None:
        current = settings.PRINTFAIR_KEK_CURRENT
        configured = settings.PRINTFAIR_KEKS
        usage = kek_usage()
        self.stdout.write(f"Wrapped keys per key-encryption key version (current: {current}):")
        for version in sorted(set(usage) | set(configured) | {current}):
            notes = []
            if version == current:
                notes.append("current")
            if version not in configured:
                notes.append("NOT CONFIGURED in PRINTFAIR_KEKS")
            suffix = f"  ({', '.join(notes)})" if notes else ""
            self.stdout.write(f"  version {version}: {usage.get(version, 0)}{suffix}")
        stale = sum(n for version, n in usage.items() if version != current)
        problems = []
        if current not in configured:
            problems.append(
                f"PRINTFAIR_KEK_CURRENT is {current}, but PRINTFAIR_KEKS has no key for it."
            )
        if stale:
            problems.append(
                f"{_keys(stale)} not on the current version {current}: run rotate_kek before "
                "removing an old version from PRINTFAIR_KEKS."
            )
        if problems:
            for problem in problems:
                self.stderr.write(self.style.ERROR(problem))
            sys.exit(1)
        unused = sorted(version for version in configured if version != current)
        retire = (
            f" {_versions(unused).capitalize()} can be removed from PRINTFAIR_KEKS."
            if unused
            else ""
        )
        self.stdout.write(
            self.style.SUCCESS(f"Every wrapped key is on KEK version {current}.{retire}")
        )
