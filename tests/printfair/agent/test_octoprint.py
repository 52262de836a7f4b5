"""The OctoPrint connector against a real OctoPrint printing real G-code on its Virtual Printer
(tests/octoprint_host.py): one OctoPrint for the module, each test leaving its printer idle."""

from __future__ import annotations

import hashlib
import math
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.anvil import free_port
from printfair.agent.connectors import (
    HostUnavailable,
    JobEnded,
    JobStarted,
    Observation,
    Progress,
)
from printfair.agent.connectors.octoprint import OctoPrintConnector
from tests.octoprint_host import HOTEND_C, CuttableProxy, OctoPrintHost, sliced_gcode

# `make test` runs every test that needs OctoPrint on one xdist worker (`--dist loadgroup`), so
# that the suite starts one OctoPrint, not one per worker.
pytestmark = pytest.mark.xdist_group("octoprint")
TIMEOUT = 60.0


@pytest.fixture
def octoprint(octoprint_host: OctoPrintHost) -> Iterator[OctoPrintHost]:
    octoprint_host.wait_idle()
    yield octoprint_host
    octoprint_host.settle()


@pytest.fixture
def connect(octoprint: OctoPrintHost) -> Iterator[Callable[..., OctoPrintConnector]]:
    """Connectors to the module's OctoPrint (a Progress for every state message OctoPrint
    sends), closed after the test."""
    made: list[OctoPrintConnector] = []

    def make(**options: Any) -> OctoPrintConnector:
        options = {
            "base_url": octoprint.url,
            "api_key": octoprint.api_key,
            "progress_interval": 0.0,
            **options,
        }
        connector = OctoPrintConnector(**options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def observe_until(
    connector: OctoPrintConnector, last: type[Observation], timeout: float = TIMEOUT
) -> list[Observation]:
    """What the connector observes until (and with) the first observation of type `last`."""
    seen: list[Observation] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += connector.observe(timeout=0.5)
        if any(isinstance(observation, last) for observation in seen):
            return seen
    raise AssertionError(f"no {last.__name__} in {timeout:.0f} s; saw {seen}")


def observe_until_unavailable(
    connector: OctoPrintConnector, timeout: float = TIMEOUT
) -> list[Observation]:
    """What the connector observes until it says it cannot reach OctoPrint."""
    seen: list[Observation] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen += connector.observe(timeout=0.5)
        except HostUnavailable:
            return seen
    raise AssertionError(f"still connected after {timeout:.0f} s; saw {seen}")


def kinds(observations: list[Observation]) -> list[type[Observation]]:
    """The observations' types with each run of Progress samples shown once."""
    shown: list[type[Observation]] = []
    for observation in observations:
        if not (shown and shown[-1] is Progress and isinstance(observation, Progress)):
            shown.append(type(observation))
    return shown


def test_a_wrong_api_key_is_refused_with_a_clear_message(
    connect: Callable[..., OctoPrintConnector],
) -> None:
    # given
    connector = connect(api_key="not-the-key")

    # when / then
    with pytest.raises(
        HostUnavailable, match=r"refused the API key \(HTTP 403 on GET /api/version"
    ):
        connector.observe(timeout=TIMEOUT)


def test_an_unreachable_host_is_unavailable_with_what_was_tried() -> None:
    # given
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    connector = OctoPrintConnector(url, "some-key")

    # when / then
    try:
        with pytest.raises(
            HostUnavailable, match=re.escape(f"could not reach OctoPrint: GET {url}/api/version")
        ):
            connector.observe(timeout=TIMEOUT)
    finally:
        connector.close()


def test_observe_never_blocks_longer_than_its_timeout_even_on_a_host_that_never_answers() -> None:
    # given: a port that takes connections and never answers them
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        connector = OctoPrintConnector(url, "some-key", request_timeout=1.0)
        try:
            # when
            started = time.monotonic()
            observed = connector.observe(timeout=0.3)
            took = time.monotonic() - started

            # then
            assert observed == []
            assert took < 0.3 + 0.5  # scheduling's slack on a busy machine
            with pytest.raises(HostUnavailable, match="could not reach OctoPrint"):
                connector.observe(timeout=TIMEOUT)
        finally:
            connector.close()


def test_observe_on_an_idle_printer_returns_nothing_within_its_timeout(
    connect: Callable[..., OctoPrintConnector],
) -> None:
    # given
    connector = connect()
    connector.observe(timeout=1.0)

    # when
    started = time.monotonic()
    observed = connector.observe(timeout=0.5)
    took = time.monotonic() - started

    # then
    assert observed == []
    assert 0.45 < took < 0.5 + 0.5


def test_a_job_already_running_at_connection_is_reported_started(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given
    gcode = sliced_gcode(layers=40)
    octoprint.upload("running.gcode", gcode)
    printing_since = datetime.now(UTC)
    octoprint.start_print()
    octoprint.wait_printing()

    # when
    connecting_at = datetime.now(UTC)
    connector = connect()
    observations = observe_until(connector, JobStarted)

    # then
    started = observations[0]
    assert isinstance(started, JobStarted)
    assert started.file_name == "running.gcode"
    assert started.file_sha256 == hashlib.sha256(gcode).hexdigest()
    # OctoPrint's job time stands still while the printer heats (it counts on with the file's
    # position), so a job is dated no earlier than the print began, and at the latest on
    # connection.
    assert (
        printing_since - timedelta(seconds=1) < started.at <= connecting_at + timedelta(seconds=1)
    )
    octoprint.cancel_print()
    observations += observe_until(connector, JobEnded)
    observations += connector.observe(timeout=1.0)
    assert kinds(observations) in ([JobStarted, JobEnded], [JobStarted, Progress, JobEnded])


def test_a_print_from_start_to_finish_is_one_job_with_its_file_progress_and_material(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given
    gcode = sliced_gcode()
    analysis = octoprint.upload("halfdonut.gcode", gcode)["gcodeAnalysis"]
    connector = connect()
    assert connector.observe(timeout=1.0) == []  # connected; nothing printing

    # when
    octoprint.start_print()
    observations = observe_until(connector, JobEnded)

    # then
    assert kinds(observations) == [JobStarted, Progress, JobEnded]
    started, ended = observations[0], observations[-1]
    assert isinstance(started, JobStarted) and isinstance(ended, JobEnded)
    assert started.file_name == "halfdonut.gcode"
    assert started.file_sha256 == hashlib.sha256(gcode).hexdigest()
    assert started.file_size == len(gcode)
    samples = [o for o in observations if isinstance(o, Progress)]
    assert any({"tool0", "bed"} <= set(sample.temperatures) for sample in samples), samples
    assert any(sample.temperatures.get("bed", 0) > 40 for sample in samples), samples
    assert all(0 <= (sample.completion or 0) <= 100 for sample in samples)
    assert ended.outcome == "finished" and ended.reason == ""
    assert ended.duration_s is not None and 0 < ended.duration_s < TIMEOUT
    assert ended.material_cm3 is not None and ended.material_cm3 > 0
    assert ended.material_cm3 == pytest.approx(analysis["filament"]["tool0"]["volume"])
    now = datetime.now(UTC)
    for observation in observations:
        assert observation.at.utcoffset() == timedelta(0)
        assert now - timedelta(seconds=TIMEOUT) < observation.at <= now + timedelta(seconds=5)
    assert [o.at for o in observations] == sorted(o.at for o in observations)


def test_a_file_that_does_not_name_its_filament_is_measured_with_the_printers_if_given(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given: a file whose slicer wrote no filament diameter, so OctoPrint measures no volume
    gcode = sliced_gcode(layers=2, name_filament=False)
    filament = octoprint.upload("cura-like.gcode", gcode)["gcodeAnalysis"]["filament"]["tool0"]
    assert filament["volume"] == 0 and filament["length"] > 0
    told = connect(filament_diameter_mm=1.75)
    not_told = connect()
    told.observe(timeout=1.0)
    not_told.observe(timeout=1.0)

    # when
    octoprint.start_print()
    ended_told = observe_until(told, JobEnded)[-1]
    ended_not_told = observe_until(not_told, JobEnded)[-1]

    # then
    assert isinstance(ended_told, JobEnded) and isinstance(ended_not_told, JobEnded)
    cross_section_mm2 = math.pi * (1.75 / 2) ** 2
    assert ended_told.material_cm3 == pytest.approx(filament["length"] * cross_section_mm2 / 1000)
    assert ended_not_told.material_cm3 is None


def printing(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector], name: str
) -> tuple[dict[str, Any], OctoPrintConnector, list[Observation]]:
    """A print started with a connector watching, up to its first progress sample: the file's
    analysis, the connector and what it observed. The print first heats its hot end 50 °C above
    the preheated printer (five seconds for the Virtual Printer), so that it is still under way
    when the test stops it."""
    gcode = sliced_gcode(layers=40, hotend_c=HOTEND_C + 50)
    analysis = octoprint.upload(name, gcode)["gcodeAnalysis"]
    connector = connect()
    connector.observe(timeout=1.0)
    octoprint.start_print()
    return analysis, connector, observe_until(connector, Progress)


def one_job(observations: list[Observation]) -> JobEnded:
    """The end of the one job `observations` tell of, started, sampled and ended once."""
    assert kinds(observations) == [JobStarted, Progress, JobEnded]
    ended = observations[-1]
    assert isinstance(ended, JobEnded)
    return ended


def test_a_cancelled_print_ends_once_as_cancelled_with_the_fraction_of_its_material(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given
    analysis, connector, observations = printing(octoprint, connect, "cancelled.gcode")

    # when
    octoprint.cancel_print()
    observations += observe_until(connector, JobEnded)
    # OctoPrint follows PrintCancelled with a PrintFailed of its own.
    observations += connector.observe(timeout=1.0)

    # then
    ended = one_job(observations)
    assert ended.outcome == "cancelled"
    assert ended.reason == "cancelled by printfair"  # the API key's user
    assert ended.duration_s is not None and ended.duration_s > 0
    assert ended.material_cm3 is not None
    assert 0 <= ended.material_cm3 < analysis["filament"]["tool0"]["volume"]


def test_a_lost_connection_neither_repeats_nor_loses_a_job(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given: a connector that reaches OctoPrint through a network that fails
    proxy = CuttableProxy(octoprint.port)
    proxy.resume()
    analysis = octoprint.upload("unseen.gcode", sliced_gcode(layers=40))["gcodeAnalysis"]
    connector = connect(base_url=proxy.url)
    connector.observe(timeout=1.0)
    octoprint.start_print()
    observations = observe_until(connector, Progress)

    try:
        # when: the network fails and comes back while the job prints
        proxy.cut()
        observations += observe_until_unavailable(connector)
        proxy.resume()
        observations += observe_until(connector, Progress)  # connected again
        # and fails again, until after the job has ended
        proxy.cut()
        observations += observe_until_unavailable(connector)
        octoprint.wait_idle()
        proxy.resume()
        observations += observe_until(connector, JobEnded)
    finally:
        proxy.cut()

    # then
    assert kinds(observations) == [JobStarted, Progress, JobEnded]
    ended = observations[-1]
    assert isinstance(ended, JobEnded)
    last_print = octoprint.api("GET", "/api/files/local/unseen.gcode")["prints"]["last"]
    assert ended.outcome == "finished"
    assert ended.duration_s == pytest.approx(last_print["printTime"])
    assert ended.at == datetime.fromtimestamp(last_print["date"], UTC)
    assert ended.material_cm3 == pytest.approx(analysis["filament"]["tool0"]["volume"])


def test_a_print_the_printer_stops_with_an_error_ends_as_failed_with_its_error(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given
    analysis, connector, observations = printing(octoprint, connect, "failing.gcode")

    # when: the printer's firmware halts, as on a thermal runaway
    octoprint.send("!!DEBUG:trigger_fatal_error_marlin")
    observations += observe_until(connector, JobEnded)
    observations += connector.observe(timeout=1.0)

    # then
    ended = one_job(observations)
    assert ended.outcome == "failed"
    assert "Thermal Runaway" in ended.reason
    assert ended.material_cm3 is not None
    assert 0 <= ended.material_cm3 < analysis["filament"]["tool0"]["volume"]


def test_a_job_that_ended_while_no_connector_ran_is_ended_by_the_next_one(
    octoprint: OctoPrintHost, connect: Callable[..., OctoPrintConnector]
) -> None:
    # given: a connector saw a print start (the agent keeps what its JobStarted asks to)
    analysis, connector, observations = printing(octoprint, connect, "while-away.gcode")
    started = observations[0]
    assert isinstance(started, JobStarted) and started.resume is not None
    # when: the agent stops, the print ends, and a new connector starts with the open job
    connector.close()
    octoprint.wait_idle()
    again = connect(open_job=started.resume)
    ended = observe_until(again, JobEnded)
    # then: the print's end, from OctoPrint's print log, and no second start
    [end] = ended
    assert isinstance(end, JobEnded)
    last_print = octoprint.api("GET", "/api/files/local/while-away.gcode")["prints"]["last"]
    assert end.outcome == "finished"
    assert end.at == datetime.fromtimestamp(last_print["date"], UTC)
    assert end.material_cm3 == pytest.approx(analysis["filament"]["tool0"]["volume"])
