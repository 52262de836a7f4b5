"""Checks of what ``printfair report`` is given, made before anything is sent: times, evidence
files, and the problems printfair/production.py finds, named by the option (or column) that
gave them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from printfair.cli.errors import UsageError
from printfair.production import RecordInvalid

__all__ = [
    "CLOCK_SKEW",
    "EVIDENCE_MAX_BYTES",
    "TIME_EXAMPLE",
    "check_evidence",
    "evidence_problem",
    "parse_time",
    "problem_lines",
]

# PrintFair's limit on an evidence file (marketplace/services/evidence.py), checked here before
# anything is uploaded.
EVIDENCE_MAX_BYTES: Final = 20 * 1024 * 1024
# How far ahead of this machine's clock a reported time may be (PrintFair allows as much).
CLOCK_SKEW: Final = timedelta(minutes=5)
TIME_EXAMPLE: Final = "e.g. 2026-05-01T09:30:00+02:00 or 2026-05-01T07:30Z"


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with its UTC offset, not in the future (argparse's type for ``--at``)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time ({TIME_EXAMPLE})"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: give one ({TIME_EXAMPLE})")
    if when > (now or datetime.now(UTC)) + CLOCK_SKEW:
        raise argparse.ArgumentTypeError(f"{text!r} is in the future")
    return when


def evidence_problem(path: Path) -> str | None:
    """Why ``path`` cannot be sent as evidence, or None."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if not path.is_file():
        return f"{path} is not a file"
    if size == 0:
        return f"{path} is empty"
    if size > EVIDENCE_MAX_BYTES:
        return f"{path} is larger than {EVIDENCE_MAX_BYTES >> 20} MiB, PrintFair's limit"
    return None


def check_evidence(paths: Sequence[Path]) -> None:
    problems = [problem for path in paths if (problem := evidence_problem(path))]
    if problems:
        raise UsageError("--evidence: " + problems[0], details=problems[1:])


def problem_lines(exc: RecordInvalid, names: Mapping[str, str]) -> list[str]:
    return [f"{names.get(name, name)}: {' '.join(text)}" for name, text in exc.fields.items()]
