"""The OPC UA connector (printfair/agent/connectors/opcua.py) against an OPC 40540 machine served
in this process (tests/opcua_machine.py): jobs from start to end, counters, and what it says
when the machine cannot be reached."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from ledger.anvil import free_port
from printfair.agent.connectors import (
    Connector,
    HostUnavailable,
    JobEnded,
    JobStarted,
    Meters,
    Observation,
    Progress,
)
from printfair.agent.connectors.opcua import OpcUaConnector
from tests.opcua_machine import MACHINE_NAME, OTHER_MACHINE_NAME, OpcUaMachine

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture
def machine(opcua_machine: OpcUaMachine) -> OpcUaMachine:
    return opcua_machine


@pytest.fixture
def connect(machine: OpcUaMachine) -> Iterator[Callable[[], OpcUaConnector]]:
    opened: list[OpcUaConnector] = []

    def open_connector() -> OpcUaConnector:
        connector = OpcUaConnector(machine.endpoint, timeout=5.0, publishing_interval=0.05)
        opened.append(connector)
        return connector

    yield open_connector
    for connector in opened:
        connector.close()


def collect(
    connector: Connector,
    until: Callable[[list[Observation]], bool],
    *,
    within: float = 5.0,
) -> list[Observation]:
    """Observations until `until` holds for all seen so far (or `within` seconds pass); typed
    as the agent sees a connector, so that mypy checks OpcUaConnector keeps the protocol."""
    seen: list[Observation] = []
    deadline = time.monotonic() + within
    while not until(seen) and time.monotonic() < deadline:
        seen += connector.observe(0.2)
    return seen


def has(kind: type, count: int = 1) -> Callable[[list[Observation]], bool]:
    return lambda seen: sum(isinstance(item, kind) for item in seen) >= count


def of(kind: type[Observation], seen: list[Observation]) -> list[Observation]:
    return [item for item in seen if isinstance(item, kind)]


def jobs_only(seen: list[Observation]) -> list[Observation]:
    return [item for item in seen if not isinstance(item, Meters)]


def test_a_job_from_start_to_finish(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    connector = connect()
    started_at = machine.clock

    # when
    machine.start_job("job-1", "bracket.3mf", layers_planned=200, sha256=SHA256, size=48213)
    machine.advance(
        "job-1",
        layers_done=50,
        after=600,
        NozzleTemperature=215.0,
        BuildPlatformTemperature=60.0,
        ChamberTemperature=35.5,
    )
    seen = collect(
        connector,
        lambda seen: any(isinstance(item, Progress) and item.layer == 51 for item in seen),
    )
    machine.finish("job-1", after=1800, material_cm3=12.5)
    seen += collect(connector, has(JobEnded))

    # then
    jobs = jobs_only(seen)
    assert jobs[0] == JobStarted(
        at=started_at, file_name="bracket.3mf", file_sha256=SHA256, file_size=48213
    )
    assert isinstance(jobs[-1], JobEnded)
    assert all(isinstance(item, Progress) for item in jobs[1:-1])
    assert jobs[-1] == JobEnded(
        at=started_at + timedelta(seconds=2400),
        outcome="finished",
        duration_s=2400.0,
        material_cm3=12.5,
        reason="",
    )
    progress = of(Progress, seen)[-1]
    assert isinstance(progress, Progress)
    # CurrentLayer counts finished layers: with 50 of 200 built, the 51st is being built.
    assert (progress.layer, progress.completion, progress.elapsed_s) == (51, 25.0, 600.0)
    assert progress.temperatures == {
        "NozzleTemperature": 215.0,
        "BuildPlatformTemperature": 60.0,
        "ChamberTemperature": 35.5,
    }
    assert progress.at == started_at + timedelta(seconds=600)
    for item in seen:
        assert item.at.tzinfo is not None and item.at.utcoffset() == timedelta(0)
    assert connector.identification == {
        "Manufacturer": "FusionLab Industries",
        "Model": "FL300",
        "SerialNumber": "FL300-0042",
    }


def test_the_operation_counters_become_meters_that_only_go_up(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    machine.set_counters(operation_seconds=7200, cycles=3)
    connector = connect()
    first = collect(connector, has(Meters))

    # when
    machine.start_job("job-2", "gear.3mf", layers_planned=10)
    machine.finish("job-2", after=900, material_cm3=4.0)
    later = collect(
        connector, lambda seen: any(isinstance(item, Meters) and item.cycles == 4 for item in seen)
    )
    machine.set_counters(operation_seconds=60, cycles=1)
    after_a_drop = connector.observe(0.5)

    # then
    meters = [item for item in first + later if isinstance(item, Meters)]
    assert meters[0] == Meters(
        at=machine.clock - timedelta(seconds=900), print_seconds=7200.0, cycles=3
    )
    assert meters[-1].print_seconds == 8100.0 and meters[-1].cycles == 4
    assert meters[-1].material_cm3 is None
    for before, after in itertools.pairwise(meters):
        assert (before.print_seconds or 0.0) <= (after.print_seconds or 0.0)
        assert (before.cycles or 0) <= (after.cycles or 0)
    assert not of(Meters, after_a_drop)


def test_a_job_the_machine_stops_on_a_fault_ends_failed(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    connector = connect()
    machine.start_job("job-3", "housing.3mf", layers_planned=400)
    collect(connector, has(JobStarted))

    # when
    machine.fail("job-3", after=5400, reason="Recoater collision in layer 212", material_cm3=30.25)
    seen = collect(connector, has(JobEnded))

    # then
    ended = of(JobEnded, seen)
    assert len(ended) == 1
    assert isinstance(ended[0], JobEnded)
    assert (ended[0].outcome, ended[0].duration_s, ended[0].material_cm3, ended[0].reason) == (
        "failed",
        5400.0,
        30.25,
        "Recoater collision in layer 212",
    )


def test_a_job_the_operator_aborts_ends_cancelled(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    connector = connect()
    machine.start_job("job-4", "clip.3mf", layers_planned=80)
    collect(connector, has(JobStarted))

    # when
    machine.cancel("job-4", after=120)
    seen = collect(connector, has(JobEnded))

    # then
    ended = of(JobEnded, seen)
    assert len(ended) == 1
    assert isinstance(ended[0], JobEnded)
    assert (ended[0].outcome, ended[0].duration_s, ended[0].material_cm3, ended[0].reason) == (
        "cancelled",
        120.0,
        None,
        "Aborted by the operator",
    )


def test_a_job_running_at_connect_is_reported_as_started_and_ended_jobs_are_not(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    machine.start_job("job-5", "old.3mf", layers_planned=10)
    machine.finish("job-5", after=60, material_cm3=1.0)
    machine.start_job("job-6", "spool-holder.3mf", layers_planned=300)
    machine.advance("job-6", layers_done=30, after=900)
    started_at = machine.clock - timedelta(seconds=900)

    # when
    connector = connect()
    seen = collect(connector, has(Progress))

    # then
    jobs = jobs_only(seen)
    assert jobs[0] == JobStarted(
        at=started_at, file_name="spool-holder.3mf", file_sha256=None, file_size=None
    )
    assert not of(JobEnded, seen)
    progress = of(Progress, seen)[0]
    assert isinstance(progress, Progress)
    assert (progress.layer, progress.completion) == (31, 10.0)

    # when
    machine.finish("job-6", after=100, material_cm3=20.0)
    ended = of(JobEnded, collect(connector, has(JobEnded)))

    # then
    assert len(ended) == 1
    assert isinstance(ended[0], JobEnded)
    assert (ended[0].outcome, ended[0].duration_s) == ("finished", 1000.0)


def test_observe_never_blocks_longer_than_its_timeout(
    machine: OpcUaMachine, connect: Callable[[], OpcUaConnector]
) -> None:
    # given
    connector = connect()
    collect(connector, has(Meters))

    # when
    began = time.monotonic()
    quiet = connector.observe(0.3)
    waited = time.monotonic() - began
    began = time.monotonic()
    immediate = connector.observe(0.0)
    waited_for_nothing = time.monotonic() - began

    # then
    assert quiet == [] and immediate == []
    assert 0.25 <= waited < 0.8
    assert waited_for_nothing < 0.1


def test_an_unreachable_endpoint_raises_host_unavailable_saying_what_was_tried() -> None:
    # given
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/"

    # when
    began = time.monotonic()
    with pytest.raises(HostUnavailable) as raised:
        OpcUaConnector(endpoint, timeout=2.0)

    # then
    assert endpoint in str(raised.value)
    assert "cannot reach" in str(raised.value)
    assert time.monotonic() - began < 3.5


def test_a_machine_that_is_not_there_raises_host_unavailable_naming_those_that_are(
    machine: OpcUaMachine,
) -> None:
    # when
    with pytest.raises(HostUnavailable) as raised:
        OpcUaConnector(machine.endpoint, machine="NoSuchPrinter", timeout=5.0)

    # then
    assert "NoSuchPrinter" in str(raised.value)
    assert MACHINE_NAME in str(raised.value) and OTHER_MACHINE_NAME in str(raised.value)


def test_a_machine_that_goes_away_raises_host_unavailable_after_what_it_said() -> None:
    # given
    with OpcUaMachine() as machine:
        connector = OpcUaConnector(machine.endpoint, timeout=5.0, publishing_interval=0.05)
        try:
            collect(connector, has(Meters))
            machine.start_job("job-7", "last.3mf", layers_planned=5)
            started = collect(connector, has(JobStarted))

            # when
            machine.stop()
            deadline = time.monotonic() + 10.0
            with pytest.raises(HostUnavailable) as raised:
                while time.monotonic() < deadline:
                    connector.observe(0.5)
        finally:
            connector.close()

    # then
    assert of(JobStarted, started)
    assert machine.endpoint in str(raised.value)
