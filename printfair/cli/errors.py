"""The failures the CLI expects, each shown as a plain message with an exit status (never a
traceback): 1 for a request PrintFair or the local files refused, 2 for a usage error, 3 for a
check against the chain that failed."""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_VERIFIED = 3


class CliError(Exception):
    """An expected failure: ``message`` is printed, then each line of ``details`` indented."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class UsageError(CliError):
    """The command line (or the environment standing in for it) is wrong."""

    exit_code = EXIT_USAGE


class NotVerified(CliError):
    """A check against the chain found no match (the file is not registered, say)."""

    exit_code = EXIT_NOT_VERIFIED
