"""What `make run` shows: a supervisord event listener (see supervisord.dev.conf).

supervisord starts, restarts and stops the processes; its own log already says how a process
ended ("exited: web (terminated by SIGSEGV; not expected)"). It passes the processes' output on
only unlabelled, though, so this listener, which supervisord feeds every chunk of output and
every change of state through its event protocol (`supervisor.childutils`):

- prints each line as `web    | …`, naming the process that said it;
- adds a plain line when a process died or ended, and another when it is started again (a
  one-shot program that ended as expected is not), and kills what the dead process left running
  in its process group (supervisord kills the group only when it stops a process itself,
  Supervisor/supervisor#1101: a crashed Celery worker would leave its pool behind);
- stops the whole stack, after saying which process it is, when supervisord gives up on a process
  that kept dying right after it started (FATAL): retrying will not fix a broken command or a
  port that is taken, and a stack that runs on without one of its parts fails in ways that are
  hard to trace back to a line that has long scrolled away;
- stops the processes itself if supervisord dies without stopping them: it exits at once when
  writing to a terminal that was closed, and nothing else would stop the anvil and the workers
  then (supervisord does not set a parent-death signal, Supervisor/supervisor#199).

It writes to its stderr, which supervisord passes on to its own output; its stdout is the
protocol's.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
from typing import TextIO

from supervisor import childutils

# Its own name in supervisord.dev.conf, which prefixes what it says itself.
SELF = os.environ.get("SUPERVISOR_PROCESS_NAME", "stack")
SUPERVISORD = os.getppid()
# The width of the name column grows to the longest name seen (like honcho's).
MIN_WIDTH = 6
# supervisord's default stopwaitsecs.
ORPHANS_STOP_SECONDS = 10


class Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.width = MIN_WIDTH
        self.partial: dict[str, str] = {}
        # The pid of each process's current run, once known (supervisord starts each in a process
        # group of its own, whose id is that pid).
        self.pids: dict[str, int] = {}

    def say(self, name: str, text: str) -> None:
        self.width = max(self.width, len(name))
        stamp = time.strftime("%H:%M:%S")
        for line in text.splitlines():
            self.out.write(f"{stamp} {name:<{self.width}} | {line}\n")
        self.out.flush()

    def output(self, name: str, data: str) -> None:
        """Print the complete lines of a chunk; keep a trailing partial line for the next one."""
        text = self.partial.pop(name, "") + data
        complete, _, rest = text.rpartition("\n")
        if rest:
            self.partial[name] = rest
        if complete:
            self.say(name, complete)

    def flush(self, name: str) -> None:
        rest = self.partial.pop(name, "")
        if rest:
            self.say(name, rest)


def kill_leftovers(pid: int | None) -> None:
    """Kill what is left of a dead process's group. Its id cannot have been taken by another
    process while anything of the group is left; if nothing is, there is nothing to kill."""
    if pid:
        kill_group(pid, signal.SIGKILL)


def stop_orphans(pids: list[int]) -> None:
    """SIGTERM to each group, as supervisord would have sent; then SIGKILL to what is left."""
    for pid in pids:
        kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + ORPHANS_STOP_SECONDS
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = [pid for pid in pids if kill_group(pid, 0)]
    for pid in pids:
        kill_group(pid, signal.SIGKILL)


def kill_group(pid: int, sig: int) -> bool:
    """Whether the group was there to be signalled."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_supervisord() -> None:
    # Only ever the supervisord that started this listener, not whoever adopted it since.
    if os.environ.get("SUPERVISOR_ENABLED") and os.getppid() == SUPERVISORD:
        os.kill(SUPERVISORD, signal.SIGTERM)


def handle(printer: Printer, event: str, payload: str) -> None:
    if event.startswith("PROCESS_LOG"):
        headers, data = childutils.eventdata(payload)
        printer.pids[headers["processname"]] = int(headers["pid"])
        printer.output(headers["processname"], data)
        return
    headers = childutils.get_headers(payload)
    name = headers.get("processname", "")
    if not event.startswith("PROCESS_STATE") or name == SELF:
        return
    printer.flush(name)
    if event == "PROCESS_STATE_STARTING":
        printer.pids.pop(name, None)
        if headers.get("from_state") == "BACKOFF":
            printer.say(SELF, f"restarting {name}, {headers.get('tries')} s after it died")
        elif headers.get("from_state") == "EXITED":
            printer.say(SELF, f"restarting {name}")
    elif event == "PROCESS_STATE_RUNNING":
        printer.pids[name] = int(headers["pid"])
    elif event == "PROCESS_STATE_EXITED":
        printer.pids.pop(name, None)
        kill_leftovers(int(headers["pid"]))
        how = "died unexpectedly" if headers.get("expected") == "0" else "exited"
        printer.say(SELF, f"{name} (pid {headers['pid']}) {how}")
    elif event == "PROCESS_STATE_BACKOFF":
        kill_leftovers(printer.pids.pop(name, None))
        printer.say(SELF, f"{name} died right after starting ({headers.get('tries')} in a row)")
    elif event == "PROCESS_STATE_STOPPED":
        printer.pids.pop(name, None)
    elif event == "PROCESS_STATE_FATAL":
        printer.say(
            SELF,
            f"{name} keeps dying right after it starts, supervisord gave up on it: stopping "
            f"everything. {name}'s last lines above say why.",
        )
        stop_supervisord()


def main() -> None:
    # supervisord counts an event's length in characters of UTF-8 text: read exactly that, with
    # no newline translation that would change the count.
    stdin = sys.stdin
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(encoding="utf-8", newline="")
    printer = Printer(sys.stderr)
    # The loop ends when supervisord is gone: its end of stdin closed, or of stdout or stderr.
    with contextlib.suppress(BrokenPipeError):
        while (event := wait(stdin, sys.stdout)) is not None:
            headers, payload = event
            try:
                handle(printer, headers["eventname"], payload)
            finally:
                childutils.listener.ok(sys.stdout)
    stop_orphans(list(printer.pids.values()))


def wait(stdin: TextIO, stdout: TextIO) -> tuple[dict[str, str], str] | None:
    """The next event (`childutils.listener.wait`), or None once supervisord is gone."""
    childutils.listener.ready(stdout)
    line = stdin.readline()
    if not line:
        return None
    headers = childutils.get_headers(line)
    return headers, stdin.read(int(headers["len"]))


if __name__ == "__main__":
    main()
