"""What the command modules share: the parser types and argument checks."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TypeAlias

from printfair.cli.context import Context

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Parents: TypeAlias = Sequence[argparse.ArgumentParser]
Handler: TypeAlias = Callable[[Context, argparse.Namespace], int]
AddParser: TypeAlias = Callable[[Subparsers, Parents], None]


def job_id(text: str) -> int:
    """A job id on the command line: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a number)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a job id (a positive number)")
    return value


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON for programs instead of a table"
    )
