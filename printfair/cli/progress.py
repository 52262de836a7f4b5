"""The CLI's progress display: one line on stderr, rewritten in place on a terminal, a plain line
every few seconds otherwise (logs, cron mail), nothing when ``--quiet``.

``ProgressLine`` is the display; ``ByteProgress`` (``design get``: bytes done and the rate) and
``RowProgress`` (``report csv``: rows recorded) say what it shows. Standard library only: the
commands that show progress import it before anything heavier.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TextIO

from printfair.sizes import format_size

__all__ = [
    "PLAIN_INTERVAL",
    "TTY_INTERVAL",
    "ByteProgress",
    "ProgressLine",
    "RowProgress",
]

# Redraw a terminal line at most this often; print a plain line this often otherwise.
TTY_INTERVAL: Final = 0.1
PLAIN_INTERVAL: Final = 5.0


class ProgressLine:
    """One line of progress on ``stream`` (stderr): rewritten in place on a terminal, a plain
    line every few seconds otherwise, nothing when ``quiet``. Subclasses say what it shows."""

    def __init__(
        self,
        stream: TextIO,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.quiet, self.clock = stream, quiet, clock
        self.tty = not quiet and _isatty(stream)
        self.started = self._shown = clock()
        # A terminal line drawn and not yet ended, and the last text shown.
        self.open = False
        self.last = ""

    def due(self) -> bool:
        """Whether the line is due to be shown again; if it is, the next interval starts now."""
        now = self.clock()
        if now - self._shown >= (TTY_INTERVAL if self.tty else PLAIN_INTERVAL):
            self._shown = now
            return True
        return False

    def restart(self) -> None:
        """Count the time (to the next showing, and ``started``) from now."""
        self.started = self._shown = self.clock()

    def show(self, text: str, *, final: bool) -> None:
        """``text`` as the progress line; ``final`` ends a terminal's line after it."""
        if self.quiet:
            return
        self.last = text
        if self.tty:
            self.stream.write("\r\x1b[K" + text + ("\n" if final else ""))
            self.open = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class ByteProgress(ProgressLine):
    """Bytes done of the total and the rate of a transfer named ``label``."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream, quiet=quiet, clock=clock)
        self.label, self.total = label, total
        self.done = 0
        self._first = 0

    def start(self, done: int) -> None:
        """The transfer starts, ``done`` bytes in (a resume says so on a line of its own)."""
        self.done = self._first = done
        self.restart()
        if done:
            self.show(f"{self.label}: resuming at {format_size(done)} of "
                      f"{format_size(self.total)}", final=True)  # fmt: skip

    def advance(self, count: int) -> None:
        self.done += count
        if self.due():
            self._show(final=False)

    def finish(self) -> None:
        self._show(final=True)

    def rate(self) -> float:
        """Bytes per second fetched in this run (not counting what a resume started from)."""
        elapsed = self.clock() - self.started
        return (self.done - self._first) / elapsed if elapsed > 0 else 0.0

    def _show(self, *, final: bool) -> None:
        if self.quiet:
            return
        percent = 100 * self.done / self.total if self.total else 100.0
        self.show(
            f"{self.label}  {format_size(self.done)} / {format_size(self.total)}  "
            f"{percent:5.1f}%  {self.rate() / (1 << 20):,.1f} MiB/s",
            final=final,
        )


class RowProgress(ProgressLine):
    """Rows of a sheet recorded of the total, with the line of the last one."""

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(stream, quiet=quiet, clock=clock)
        self.total = total
        self.done = 0
        self.line = 0

    def advance(self, line: int) -> None:
        self.done += 1
        self.line = line
        if self.due():
            self._show(final=False)

    def finish(self) -> None:
        """The last state, and the terminal's line ended (also after a refusal)."""
        if self.done or self.open:
            self._show(final=True)

    def _show(self, *, final: bool) -> None:
        text = f"recorded {self.done}/{self.total} measurements (line {self.line})"
        if final and not self.tty and text == self.last:
            return  # a log has this line already
        self.show(text, final=final)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
