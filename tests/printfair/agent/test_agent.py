"""`printfair agent` end to end: paired through a live PrintFair, watching an OPC 40540 machine
(tests/opcua_machine.py) as a separate process, delivering what the machine did as signed events
that PrintFair applies once and in order; killed mid-job and started again, it loses and doubles
nothing; with PrintFair away it keeps events on disk and catches up in order."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from ledger.services.verification import anchor_states
from machines.models import Machine, MachineEvent
from machines.services import machine_create, machine_key_approve
from marketplace.models import DesignFile, User
from printfair.agent.store import AgentStore
from printfair.machine_events import samples_digest
from printshops.models import PartRecord
from printshops.services import api_key_create
from tests.octoprint_host import OctoPrintHost, sliced_gcode
from tests.opcua_machine import OpcUaMachine
from tests.scenarios import PASSPHRASE, Released, Run, anchor_all, ticket

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 30.0
GCODE = b"; a print file\nG28\nG1 X10 Y10 E1\n"
SHA256 = hashlib.sha256(GCODE).hexdigest()


@pytest.fixture
def machine_host(opcua_machine: OpcUaMachine) -> OpcUaMachine:
    return opcua_machine


@pytest.fixture
def paired(
    live_server: Any, winning_shop: User, home: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> tuple[Machine, dict[str, str]]:
    """The shop's machine, its key made by `printfair agent pair` and approved with the code the
    agent printed; returns it and the environment the agent runs in."""
    _, token = api_key_create(actor=winning_shop, name="agent", expires_at=None)
    env = {"PRINTFAIR_API": live_server.url, "PRINTFAIR_API_KEY": token}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    machine = machine_create(
        actor=winning_shop, make="Additive Co", model="AM-1", process="sls",
        build_x_mm=300, build_y_mm=300, build_z_mm=400, serial="AM-0001",
    )  # fmt: skip
    status, out, err = run("agent", "pair", str(machine.pk), "--light-kdf")
    assert status == 0, err
    (code,) = re.findall(r"Pairing code: (\S+)", out)
    machine_key_approve(actor=winning_shop, machine=machine, code=code)
    return machine, {
        **os.environ, **env, "PRINTFAIR_HOME": str(home), "PRINTFAIR_PASSPHRASE": PASSPHRASE,
    }  # fmt: skip


class AgentProcess:
    """`printfair agent run` as a shop runs it, its output collected as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_connected(self) -> None:
        """Until it watches the machine (a job that ends before is history to it)."""
        wait_for(lambda: "connected to the printer's host" in self.output, "the agent", self)

    def stop(self, *, kill: bool = False) -> str:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        return self.output


@pytest.fixture
def agent_process(
    paired: tuple[Machine, dict[str, str]], request: pytest.FixtureRequest
) -> Iterator[Callable[..., AgentProcess]]:
    """Start `printfair agent run` for the paired machine, watching the OPC UA machine
    (`machine_host`) unless other host options are given."""
    machine, env = paired
    started: list[AgentProcess] = []

    def start(*host: str) -> AgentProcess:
        if not host:
            host = ("--opcua", request.getfixturevalue("machine_host").endpoint)
        agent = AgentProcess(
            [str(Path(sys.executable).with_name("printfair")), "agent", "run", str(machine.pk),
             *host, "--poll", "0.2"],
            dict(env),
        )  # fmt: skip
        started.append(agent)
        agent.wait_connected()
        return agent

    yield start
    for agent in started:
        agent.stop()


def wait_for(condition: Callable[[], bool], what: str, agent: AgentProcess | None = None) -> None:
    """Wait; on a timeout, say what the agent printed."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            said = agent.stop() if agent is not None else ""
            raise AssertionError(f"timed out waiting for {what}; the agent said:\n{said}")
        time.sleep(0.2)


def kinds(machine: Machine) -> list[str]:
    """The kinds of the machine's events in order, its meters left out (the machine's counters
    come when they change, which these tests do not pin)."""
    events = MachineEvent.objects.filter(machine=machine).exclude(kind="meters")
    return list(events.values_list("kind", flat=True))


def test_the_agent_reports_a_job_as_the_machine_did_it(
    paired: tuple[Machine, dict[str, str]],
    machine_host: OpcUaMachine,
    agent_process: Callable[..., AgentProcess],
    home: Path,
    run: Run,
    tmp_path: Path,
) -> None:
    # given: the shop said which ticket the print file is for, and the agent runs
    machine, _ = paired
    gcode = tmp_path / "bracket.gcode"
    gcode.write_bytes(GCODE)
    assert run("agent", "expect", str(machine.pk), str(gcode), "--ticket", "T-1")[0] == 0
    agent = agent_process()
    # when: the machine prints
    machine_host.start_job("J1", "bracket.gcode", layers_planned=10, sha256=SHA256, size=33)
    wait_for(lambda: "job_started" in kinds(machine), "the start", agent)
    machine_host.advance("J1", layers_done=4, after=5, ChamberTemperature=180.0)
    wait_for(lambda: kinds(machine).count("progress") >= 2, "a sample", agent)
    machine_host.finish("J1", after=5, material_cm3=12.5)
    wait_for(lambda: "job_ended" in kinds(machine), "the end", agent)
    # then: PrintFair has the job as signed by the machine, numbered from 1
    events = list(MachineEvent.objects.filter(machine=machine))
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    started, *samples, ended = [e for e in events if e.kind != "meters"]
    assert started.data["file_sha256"] == SHA256 and started.data["ticket"] == "T-1"
    assert all(sample.kind == "progress" for sample in samples)
    assert ended.data["outcome"] == "finished" and ended.data["material_cm3"] == 12.5
    assert ended.data["samples"] == samples_digest([s.data for s in samples])
    assert {e.key.address for e in events} == {
        AgentStore(home / "machines" / str(machine.pk)).get("address")
    }
    out = agent.stop()
    assert agent.process.returncode == 0, out
    assert "events delivered" in out


def test_an_agent_killed_mid_job_and_started_again_loses_and_doubles_nothing(
    paired: tuple[Machine, dict[str, str]],
    machine_host: OpcUaMachine,
    agent_process: Callable[..., AgentProcess],
) -> None:
    machine, _ = paired
    agent = agent_process()
    machine_host.start_job("J1", "part.gcode", layers_planned=10, sha256=SHA256)
    machine_host.advance("J1", layers_done=2, after=2)
    wait_for(lambda: "progress" in kinds(machine), "a sample", agent)
    # when: killed without warning, the job goes on, and the agent is started again
    agent.stop(kill=True)
    machine_host.advance("J1", layers_done=5, after=2)
    again = agent_process()
    machine_host.advance("J1", layers_done=8, after=2)
    machine_host.finish("J1", after=2, material_cm3=3.0)
    wait_for(lambda: "job_ended" in kinds(machine), "the end", again)
    # then: one start, one end, every number once and in order
    events = list(MachineEvent.objects.filter(machine=machine))
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    seen = kinds(machine)
    assert seen.count("job_started") == 1 and seen.count("job_ended") == 1
    assert seen[0] == "job_started" and seen.index("job_ended") > seen.index("progress")


def test_a_job_that_ends_while_the_agent_is_down_is_ended_when_it_is_back(
    paired: tuple[Machine, dict[str, str]],
    machine_host: OpcUaMachine,
    agent_process: Callable[..., AgentProcess],
) -> None:
    machine, _ = paired
    agent = agent_process()
    machine_host.start_job("J1", "part.gcode", layers_planned=4, sha256=SHA256)
    wait_for(lambda: "job_started" in kinds(machine), "the start", agent)
    # when: the agent is killed, and the job ends before it is started again
    agent.stop(kill=True)
    machine_host.finish("J1", after=1, material_cm3=2.0)
    again = agent_process()
    # then: its end is reported from the machine's own record of it, and nothing twice
    wait_for(lambda: "job_ended" in kinds(machine), "the end", again)
    ended = MachineEvent.objects.get(machine=machine, kind="job_ended")
    assert ended.data["outcome"] == "finished" and ended.data["material_cm3"] == 2.0
    assert kinds(machine).count("job_started") == 1


def test_with_printfair_away_events_wait_on_disk_and_go_in_order_when_it_is_back(
    paired: tuple[Machine, dict[str, str]],
    machine_host: OpcUaMachine,
    agent_process: Callable[..., AgentProcess],
    home: Path,
) -> None:
    machine, env = paired
    store = AgentStore(home / "machines" / str(machine.pk))
    # given: the agent ran once and reported a start
    agent = agent_process()
    machine_host.start_job("J1", "part.gcode", layers_planned=4, sha256=SHA256)
    wait_for(lambda: "job_started" in kinds(machine), "the start")
    agent.stop()
    # when: PrintFair cannot be reached (its address points nowhere) while the job goes on
    online, signed, before = env["PRINTFAIR_API"], store.counts()[0], kinds(machine)
    env["PRINTFAIR_API"] = "http://127.0.0.1:9"
    offline = agent_process()
    machine_host.advance("J1", layers_done=2, after=1)
    machine_host.finish("J1", after=1, material_cm3=1.0)
    # (the job closed in the agent's store: its end is signed)
    wait_for(lambda: store.get("job") is None, "the end signed offline", offline)
    assert store.counts()[0] > signed + 1
    out = offline.stop()
    # then: they waited on disk, and go in order once PrintFair is back
    assert "cannot reach PrintFair" in out and "wait on disk" in out, out
    assert kinds(machine) == before
    env["PRINTFAIR_API"] = online
    back = agent_process()
    wait_for(lambda: "job_ended" in kinds(machine), "the catching up", back)
    first, *samples, last = kinds(machine)
    assert (first, set(samples), last) == ("job_started", {"progress"}, "job_ended")
    wait_for(lambda: store.counts()[1] == store.counts()[0], "every event delivered")


@pytest.mark.xdist_group("octoprint")  # one OctoPrint for the suite (tests/octoprint_host.py)
def test_the_agent_reports_a_print_on_octoprints_virtual_printer(
    paired: tuple[Machine, dict[str, str]],
    octoprint_host: OctoPrintHost,
    agent_process: Callable[..., AgentProcess],
    run: Run,
    tmp_path: Path,
) -> None:
    # given: a G-code file sliced from a test mesh, uploaded, and named for its ticket
    machine, env = paired
    gcode = sliced_gcode(layers=6)
    (tmp_path / "halfdonut.gcode").write_bytes(gcode)
    assert run("agent", "expect", str(machine.pk), str(tmp_path / "halfdonut.gcode"),
               "--ticket", "T-7")[0] == 0  # fmt: skip
    octoprint_host.upload("halfdonut.gcode", gcode)
    env["OCTOPRINT_API_KEY"] = octoprint_host.api_key
    agent = agent_process("--octoprint", octoprint_host.url)
    # when: the printer prints it
    octoprint_host.start_print()
    wait_for(lambda: "job_ended" in kinds(machine), "the print's end", agent)
    octoprint_host.wait_idle()
    # then: the start names the file as printed and its ticket; the agent counted the meters
    started = MachineEvent.objects.get(machine=machine, kind="job_started")
    assert started.data["file_sha256"] == hashlib.sha256(gcode).hexdigest()
    assert started.data["ticket"] == "T-7"
    ended = MachineEvent.objects.get(machine=machine, kind="job_ended")
    assert ended.data["outcome"] == "finished" and ended.data["material_cm3"] > 0
    wait_for(lambda: MachineEvent.objects.filter(kind="meters").exists(), "the meters", agent)
    meters = MachineEvent.objects.get(machine=machine, kind="meters").data
    assert meters["cycles"] == 1
    assert meters["print_seconds"] == pytest.approx(ended.data["duration_s"], abs=0.001)


def test_a_print_for_a_ticket_is_machine_attested_on_the_customers_timeline(
    released: Released,
    paired: tuple[Machine, dict[str, str]],
    machine_host: OpcUaMachine,
    agent_process: Callable[..., AgentProcess],
    run: Run,
    tmp_path: Path,
    customer: User,
    login: Callable[[User | None], Any],
) -> None:
    job, _, shop = released
    machine, _ = paired
    design = DesignFile.objects.filter(job=job).order_by("original_name").first()
    assert design is not None
    # given: a print ticket, and the agent told which file is for it (sliced from the design)
    taken = ticket(shop, job, "OP-1", machine=str(machine))
    sliced = tmp_path / "part.gcode"
    sliced.write_bytes(GCODE)
    status, _, err = run(
        "agent", "expect", str(machine.pk), str(sliced), "--ticket", taken,
        "--design-sha256", design.sha256, "--slicer", "Slic3r 1.3", "--profile", "0.2 mm",
    )  # fmt: skip
    assert status == 0, err
    # when: the machine prints that file
    agent = agent_process()
    machine_host.start_job("J1", "part.gcode", layers_planned=2, sha256=SHA256)
    wait_for(lambda: "job_started" in kinds(machine), "the start", agent)
    machine_host.advance("J1", layers_done=1, after=1)
    machine_host.finish("J1", after=1, material_cm3=1.5)
    printed = PartRecord.objects.filter(part_serial="OP-1", attestation__isnull=False)
    wait_for(lambda: printed.count() == 2, "the attested start and finish", agent)
    anchor_all()
    # then: the customer sees the print's start and finish as the machine signed them, anchored
    start, finish = printed.order_by("seq")
    assert start.data["design"] == "derived from the released design"
    assert finish.data["outcome"] == "completed" and finish.data["material_cm3"] == 1.5
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert page.count('data-reported-by="machine"') == 2
    assert all(anchor_states("part_record", [str(r.pk)])[str(r.pk)].block_number for r in printed)
