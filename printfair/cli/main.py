"""The ``printfair`` command for print shops: keys, jobs, sealed bids and reveals.

``main(argv)`` returns the exit status: 0 on success, 1 when PrintFair (or the local files)
refused or failed, 2 for a usage error. Expected failures are one plain message on stderr, never a
traceback.

Building the parser imports every command module, so those import their heavy libraries
(requests, cryptography, eth_account) inside their handlers: each run loads what its command
needs and no more (tests/printfair/test_cli.py pins this).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from printfair.cli.commands import COMMANDS
from printfair.cli.context import DEFAULT_API, DEFAULT_HOME, Context
from printfair.cli.errors import EXIT_FAILED, EXIT_USAGE, CliError

__all__ = ["build_parser", "main"]

EPILOG = f"""\
environment:
  PRINTFAIR_API         the server's URL (default {DEFAULT_API})
  PRINTFAIR_API_KEY     the shop's API key, pf_<prefix>_<secret>
  PRINTFAIR_HOME        keys and local bid state (default {DEFAULT_HOME})
  PRINTFAIR_PASSPHRASE  the keys' passphrase (asked on the terminal when unset)
  PRINTFAIR_API_KEY_FILE, PRINTFAIR_PASSPHRASE_FILE
                        read the secret from this file instead
"""


def _common_options() -> argparse.ArgumentParser:
    # Accepted before and after the command (`printfair --api URL bid …` and
    # `printfair bid … --api URL`); SUPPRESS keeps a later parser from erasing an earlier value.
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and files")
    group.add_argument(
        "--api", metavar="URL", default=argparse.SUPPRESS, help="PrintFair's URL ($PRINTFAIR_API)"
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        default=argparse.SUPPRESS,
        help="the shop's API key ($PRINTFAIR_API_KEY; safer than this option)",
    )
    group.add_argument(
        "--home",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where keys and bid salts are kept ($PRINTFAIR_HOME)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="printfair",
        description="PrintFair for print shops: register keys, find jobs, place sealed bids "
        "and reveal them.",
        parents=[common],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add_parser in COMMANDS:
        add_parser(commands, [common])
    return parser


class _VersionAction(argparse._VersionAction):
    """``--version``, with the installed version looked up only when asked for (reading the
    package metadata costs every other run its time and memory)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = f"%(prog)s {_version()}"
        super().__call__(parser, *args, **kwargs)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("printfair")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has printed
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return EXIT_USAGE
    try:
        ctx = Context.from_options(
            api=getattr(args, "api", None),
            api_key=getattr(args, "api_key", None),
            home=getattr(args, "home", None),
            env=os.environ,
        )
        status: int = args.handler(ctx, args)
    except CliError as exc:
        print(f"printfair: error: {exc.message}", file=sys.stderr)
        for line in exc.details:
            print(f"  {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("printfair: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`printfair jobs list | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return status
