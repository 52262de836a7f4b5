"""`make run` survives a crashed process (issue 13): the real supervisord, with the settings of
supervisord.dev.conf and its listener (devtools/stack_listener.py), runs a throwaway file of two
tiny processes that are killed for real; and supervisord.dev.conf itself, and
supervisord.printer.conf (`make run DEMO_PRINTER=1`), are checked as supervisord reads them."""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from supervisor.datatypes import RestartUnconditionally, RestartWhenExitUnexpected
from supervisor.events import EventTypes
from supervisor.options import EventListenerPoolConfig, ProcessConfig, ServerOptions

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "supervisord.dev.conf"
PRINTER_CONF = ROOT / "supervisord.printer.conf"
STACK = {"chain", "web", "worker", "sender", "beat"}
PRINTER = {"octoprint", "agent", "print"}
TIMEOUT = 20.0

# Prints its pid and that of a helper it starts (as a Celery worker starts its pool, or `sh -c`
# runs deploy_contracts), then waits. No core file when it is killed with SIGSEGV.
CHILD = """\
import os, resource, subprocess, sys, time
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(f"{sys.argv[1]} up: pid {os.getpid()}, helper {helper.pid}")
time.sleep(600)
"""
# Fails at once, every time, as a process with a broken command or a port already taken does.
BROKEN = """\
import sys
print("broken: cannot start")
sys.exit(3)
"""
# Does its work and ends well, as the demo printer's `print` does.
ONCE = """\
print("once: done")
"""


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while alive(pid):
        if time.monotonic() > deadline:
            pytest.fail(f"pid {pid} is still running")
        time.sleep(0.05)


class Stack:
    """supervisord in the foreground, its output collected line by line."""

    def __init__(self, conf: Path) -> None:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and file
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def matches(self, pattern: str) -> list[re.Match[str]]:
        return list(re.finditer(pattern, self.output, re.MULTILINE))

    def wait_for(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        deadline = time.monotonic() + TIMEOUT
        while len(found := self.matches(pattern)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"no {count} lines matching {pattern!r} in:\n{self.output}")
            time.sleep(0.05)
        return found

    def pids(self, name: str) -> list[tuple[int, int]]:
        """Each run of a tiny process: its pid and its helper's, as it printed them."""
        found = self.matches(rf"^\S+ {name} +\| {name} up: pid (\d+), helper (\d+)$")
        return [(int(m[1]), int(m[2])) for m in found]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Runs supervisord on a throwaway file: the real [supervisord] and listener sections, and for
    each given program the real settings of [program:chain] (or of the real program `like` names
    for it) with a tiny command, in one group as in the real file."""
    started: list[Stack] = []

    def start(programs: dict[str, str], like: dict[str, str] | None = None) -> Stack:
        real = configparser.RawConfigParser()
        real.read([CONF, PRINTER_CONF])
        conf = configparser.RawConfigParser()
        for section in ("supervisord", "eventlistener:stack"):
            conf[section] = {
                key: value.replace("%(here)s", str(ROOT)) for key, value in real[section].items()
            }
        conf["supervisord"]["pidfile"] = str(tmp_path / "supervisord.pid")
        conf["group:printfair"] = {"programs": ",".join(programs)}
        for name, script in programs.items():
            (tmp_path / f"{name}.py").write_text(script)
            settings = real[f"program:{(like or {}).get(name, 'chain')}"]
            conf[f"program:{name}"] = {
                **settings,
                "command": f"python {name}.py {name}",
                "directory": str(tmp_path),
                # Shorter than the real 5 s, so that the test waits less for a process to count as
                # up; not much shorter: supervisord may notice a death up to a second late.
                "startsecs": str(min(int(settings["startsecs"]), 3)),
            }
        path = tmp_path / "supervisord.conf"
        with path.open("w") as f:
            conf.write(f)
        started.append(Stack(path))
        return started[-1]

    yield start
    for running in started:
        if running.proc.poll() is None:
            children = psutil.Process(running.proc.pid).children(recursive=True)
            running.proc.kill()
            for child in children:
                child.kill()
            running.proc.wait()


def test_a_crashed_process_is_reported_and_restarted_alone(
    stack: Callable[..., Stack],
) -> None:
    # given
    run = stack({"alpha": CHILD, "beta": CHILD})
    run.wait_for(r"alpha up: pid")
    run.wait_for(r"beta up: pid")
    run.wait_for(r"success: alpha entered RUNNING state")
    ((alpha, alpha_helper),) = run.pids("alpha")
    ((beta, beta_helper),) = run.pids("beta")
    listener = int(run.wait_for(r"spawned: 'stack' with pid (\d+)")[0][1])

    # when
    os.kill(alpha, signal.SIGSEGV)

    # then
    run.wait_for(r"exited: alpha \(terminated by SIGSEGV; not expected\)")
    run.wait_for(rf"\d \S+ +\| alpha \(pid {alpha}\) died unexpectedly$")
    run.wait_for(r"\d \S+ +\| restarting alpha$")
    run.wait_for(r"alpha up: pid", count=2)
    (_, (new_alpha, new_alpha_helper)) = run.pids("alpha")
    assert new_alpha != alpha
    assert alive(new_alpha)
    wait_gone(alpha_helper)
    assert run.pids("beta") == [(beta, beta_helper)]
    assert len(run.matches(r"spawned: 'beta'")) == 1
    assert alive(beta)

    # when
    returncode = run.stop()

    # then
    assert returncode == 0
    for pid in (new_alpha, new_alpha_helper, beta, beta_helper, listener):
        wait_gone(pid)
    assert run.matches(r"stopped: alpha \(terminated by SIGTERM\)")
    assert run.matches(r"stopped: beta \(terminated by SIGTERM\)")


def test_a_process_that_keeps_dying_at_start_backs_off_then_stops_the_stack_naming_it(
    stack: Callable[..., Stack],
) -> None:
    # given
    run = stack({"steady": CHILD, "broken": BROKEN})

    # when
    returncode = run.proc.wait(timeout=TIMEOUT)

    # then
    deaths = run.matches(r"\| broken died right after starting \((\d) in a row\)$")
    assert [m[1] for m in deaths] == ["1", "2", "3", "4"]
    # supervisord backs off 1, 2, then 3 s before the next try, and gives up after the fourth.
    restarts = run.matches(r"\| restarting broken, (\d) s after it died$")
    assert [m[1] for m in restarts] == ["1", "2", "3"]
    assert len(run.matches(r"^\S+ broken +\| broken: cannot start$")) == 4
    assert run.matches(r"gave up: broken entered FATAL state")
    assert run.matches(r"\| broken keeps dying right after it starts.*stopping everything")
    assert returncode == 0
    ((steady, steady_helper),) = run.pids("steady")
    assert len(run.matches(r"spawned: 'steady'")) == 1
    for pid in (steady, steady_helper):
        wait_gone(pid)


def test_a_one_shot_program_that_ends_well_is_reported_and_not_started_again(
    stack: Callable[..., Stack],
) -> None:
    # given the demo printer's `print` settings
    run = stack({"steady": CHILD, "once": ONCE}, like={"once": "print"})

    # when it ends well
    run.wait_for(r"exited: once \(exit status 0; expected\)")

    # then it is said, and it is not started again (while the other process came up, in 3 s)
    run.wait_for(r"\d \S+ +\| once \(pid \d+\) exited$")
    run.wait_for(r"success: steady entered RUNNING state")
    assert run.matches(r"^\S+ once +\| once: done$")
    assert len(run.matches(r"spawned: 'once'")) == 1
    assert not run.matches(r"restarting once")
    assert run.stop() == 0


def test_a_killed_supervisord_leaves_no_process_behind(
    stack: Callable[..., Stack],
) -> None:
    """As when the terminal of `make run` is closed: supervisord dies writing to it at once."""
    # given
    run = stack({"alpha": CHILD, "beta": CHILD})
    run.wait_for(r"alpha up: pid")
    run.wait_for(r"beta up: pid")
    ((alpha, alpha_helper),) = run.pids("alpha")
    ((beta, beta_helper),) = run.pids("beta")

    # when
    run.proc.kill()

    # then
    for pid in (alpha, alpha_helper, beta, beta_helper):
        wait_gone(pid)


def test_every_process_of_the_real_stack_restarts_and_stops_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given supervisord's own reading of the file (PRINTFAIR_PORT is set by `make run`)
    monkeypatch.setenv("PRINTFAIR_PORT", "8123")
    (tmp_path / "var").mkdir()
    options = ServerOptions()
    options.here = str(tmp_path)  # for the pidfile's folder, which make run creates in var/

    # when
    groups = options.read_config(str(CONF)).process_group_configs

    # then
    listeners = [g for g in groups if isinstance(g, EventListenerPoolConfig)]
    (group,) = (g for g in groups if g not in listeners)  # so that they stop together
    programs = group.process_configs
    assert {p.name for p in programs} == STACK
    for program in programs:
        _kept_running(program)
    (web,) = (p for p in programs if p.name == "web")
    assert "deploy_contracts --wait 60 && exec " in web.command
    assert "runserver 127.0.0.1:8123 " in web.command
    (listener,) = listeners
    assert listener.name == "stack"
    assert {EventTypes.PROCESS_LOG, EventTypes.PROCESS_STATE} <= set(listener.pool_events)
    assert all(listener.priority < p.priority for p in programs)
    (process,) = listener.process_configs
    assert process.command == f"python {tmp_path}/devtools/stack_listener.py"
    assert (ROOT / "devtools" / "stack_listener.py").exists()


def test_the_demo_printer_runs_beside_the_stack_and_stops_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given supervisord's own reading of the file, which includes supervisord.dev.conf (whose
    # pidfile is in the var/ beside it, which make run creates)
    monkeypatch.setenv("PRINTFAIR_PORT", "8123")
    (ROOT / "var").mkdir(exist_ok=True)
    options = ServerOptions()
    options.here = str(tmp_path)

    # when
    groups = options.read_config(str(PRINTER_CONF)).process_group_configs

    # then: the stack as in supervisord.dev.conf, and the printer's group started after it and
    # stopped before it
    listeners = [g for g in groups if isinstance(g, EventListenerPoolConfig)]
    stack, printer = sorted((g for g in groups if g not in listeners), key=lambda g: g.priority)
    assert {p.name for p in stack.process_configs} == STACK
    assert {p.name for p in printer.process_configs} == PRINTER
    assert stack.priority < printer.priority
    for program in printer.process_configs:
        assert program.command == f"python manage.py demo_printer {program.name}"
        if program.name == "print":
            # a one-shot: not started again once it ended well, and up as soon as it started
            assert program.autorestart is RestartWhenExitUnexpected
            assert program.exitcodes == [0] and program.startsecs == 0
            _stopped_with_its_children(program)
        else:
            _kept_running(program)
    (listener,) = listeners
    assert listener.name == "stack"
    assert all(listener.priority < p.priority for p in printer.process_configs)


def _kept_running(program: ProcessConfig) -> None:
    """The block every long-running program repeats: started again whenever it ends, and given
    up on only when it keeps dying right after it starts."""
    assert program.autorestart is RestartUnconditionally, program.name
    assert program.startsecs > 0 and program.startretries > 0, program.name
    _stopped_with_its_children(program)


def _stopped_with_its_children(program: ProcessConfig) -> None:
    assert program.killasgroup, program.name
    # A Celery worker stops its own pool; anything else gets SIGTERM with its children.
    assert program.stopasgroup or " worker " in program.command, program.name
    assert program.redirect_stderr and program.stdout_events_enabled, program.name
    assert program.stdout_logfile is None, program.name
