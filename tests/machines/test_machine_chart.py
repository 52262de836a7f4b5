"""The machine's page for its shop (issue 17): what the machine is doing, from its latest signed
job events, and the chart data of its recent progress samples, which the page polls with
`?after=` so that each poll carries only what is new."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from machines.models import Machine
from machines.selectors import MAX_SAMPLES
from marketplace.models import User
from printfair.machine_events import JOB_ENDED, JOB_STARTED, METERS, PROGRESS
from tests import factories

pytestmark = pytest.mark.django_db

STARTED: dict[str, Any] = {
    "file_name": "bracket.gcode", "file_sha256": "ab" * 32, "file_size": 1234,
    "ticket": "T-42", "derived_from": None,
}  # fmt: skip
ENDED: dict[str, Any] = {
    "outcome": "failed", "duration_s": 3600.0, "material_cm3": 12.5,
    "reason": "Nozzle clogged", "samples": None,
}  # fmt: skip


def sample(completion: float, layer: int = 1, **temperatures: float) -> dict[str, Any]:
    return {
        "completion": completion,
        "elapsed_s": completion * 10,
        "layer": layer,
        "temperatures": temperatures or {"tool0": 215.0, "bed": 60.0},
    }


@pytest.fixture
def machine(winning_shop: User) -> Machine:
    return factories.machine(winning_shop)


@pytest.fixture
def shop(winning_shop: User, login: Callable[[User | None], Client]) -> Client:
    return login(winning_shop)


def samples_of(client: Client, machine: Machine, **query: Any) -> Any:
    response = client.get(reverse("machine_samples", args=[machine.pk]), query)
    assert response.status_code == 200, response.content
    return response.json()


def test_samples_come_in_sequence_order_with_their_readings(shop: Client, machine: Machine) -> None:
    # given a job with three samples, among events of other kinds
    now = timezone.now()
    factories.machine_events(
        machine,
        (JOB_STARTED, STARTED, now - timedelta(minutes=30)),
        (PROGRESS, sample(10.0, 3), now - timedelta(minutes=20)),
        (METERS, {"print_seconds": 10.0, "material_cm3": 1.0, "cycles": 1}, None),
        (PROGRESS, sample(20.0, 6), now - timedelta(minutes=10)),
        (PROGRESS, sample(30.5, 9, tool0=220.0), now - timedelta(minutes=1)),
    )

    # when the chart asks for them
    answer = samples_of(shop, machine)

    # then it gets the samples alone, oldest first, with the window it asked for
    assert [s["sequence"] for s in answer["samples"]] == [2, 4, 5]
    assert [s["completion"] for s in answer["samples"]] == [10.0, 20.0, 30.5]
    assert answer["samples"][-1] == {
        "sequence": 5,
        "at_ms": int((now - timedelta(minutes=1)).timestamp() * 1000),
        "completion": 30.5,
        "layer": 9,
        "temperatures": {"tool0": 220.0},
    }
    assert answer["hours"] == 6
    assert answer["thinned"] is False
    assert abs(answer["now_ms"] - timezone.now().timestamp() * 1000) < 60_000


def test_after_sends_only_the_samples_numbered_after_it(shop: Client, machine: Machine) -> None:
    factories.machine_events(machine, *[(PROGRESS, sample(float(n)), None) for n in range(4)])

    assert [s["sequence"] for s in samples_of(shop, machine, after=2)["samples"]] == [3, 4]
    assert samples_of(shop, machine, after=4)["samples"] == []

    # a sample delivered later is the next poll's
    factories.machine_events(machine, (PROGRESS, sample(50.0), None))
    assert [s["sequence"] for s in samples_of(shop, machine, after=4)["samples"]] == [5]


def test_samples_older_than_the_hours_asked_are_left_out(shop: Client, machine: Machine) -> None:
    now = timezone.now()
    factories.machine_events(
        machine,
        (PROGRESS, sample(1.0), now - timedelta(hours=7)),
        (PROGRESS, sample(2.0), now - timedelta(hours=1, minutes=30)),
        (PROGRESS, sample(3.0), now - timedelta(minutes=5)),
    )

    assert [s["sequence"] for s in samples_of(shop, machine)["samples"]] == [2, 3]
    assert [s["sequence"] for s in samples_of(shop, machine, hours=1)["samples"]] == [3]
    assert [s["sequence"] for s in samples_of(shop, machine, hours=8)["samples"]] == [1, 2, 3]


def test_many_samples_are_thinned_evenly_to_the_bound_keeping_the_newest(
    shop: Client, machine: Machine
) -> None:
    start, count = timezone.now() - timedelta(hours=2), MAX_SAMPLES * 3 + 7
    factories.machine_events(
        machine,
        *[(PROGRESS, sample(n / count * 100), start + timedelta(seconds=n)) for n in range(count)],
    )

    answer = samples_of(shop, machine)

    sequences = [s["sequence"] for s in answer["samples"]]
    assert answer["thinned"] is True
    assert len(sequences) == MAX_SAMPLES
    # the first and the newest, so that polling on from the newest misses none
    assert (sequences[0], sequences[-1]) == (1, count)
    steps = {b - a for a, b in itertools.pairwise(sequences)}
    assert steps <= {3, 4}  # evenly: count / MAX_SAMPLES is just over 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"hours": "0"}, "hours"),
        ({"hours": "49"}, "hours"),
        ({"hours": "six"}, "hours"),
        ({"hours": "1.5"}, "hours"),
        ({"hours": "9" * 5000}, "hours"),
        ({"after": "-1"}, "after"),
        ({"after": str(2**63)}, "after"),
        ({"after": "0x10"}, "after"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    shop: Client, machine: Machine, query: dict[str, str], field: str
) -> None:
    response = shop.get(reverse("machine_samples", args=[machine.pk]), query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [field]
    assert error["message"] == error["fields"][field][0]
    assert ("from 1 to 48" in error["message"]) == (field == "hours")


def test_another_shop_cannot_read_the_machines_samples_or_status(
    machine: Machine, losing_shop: User, login: Callable[[User | None], Client]
) -> None:
    factories.machine_events(machine, (JOB_STARTED, STARTED, None), (PROGRESS, sample(5.0), None))
    other = login(losing_shop)

    for route in ("machine_samples", "machine_status_panel", "machine_detail"):
        response = other.get(reverse(route, args=[machine.pk]), {"hours": "6"})
        assert response.status_code == 404, route
        assert b"bracket.gcode" not in response.content


def test_the_page_shows_the_job_under_way_and_its_latest_sample(
    shop: Client, machine: Machine
) -> None:
    factories.machine_events(
        machine,
        (JOB_STARTED, STARTED, None),
        (PROGRESS, sample(12.0, 4), None),
        (PROGRESS, sample(47.5, 18), None),
    )

    page = shop.get(reverse("machine_detail", args=[machine.pk])).content.decode()

    assert 'id="machine-state">Printing' in page
    assert "bracket.gcode" in page and "T-42" in page
    assert 'id="job-completion">47.5 %' in page
    assert 'id="job-layer">18<' in page
    assert reverse("machine_samples", args=[machine.pk]) in page
    assert "js/machine_chart.js" in page and "vendor/uplot/uPlot.iife.min.js" in page


def test_a_job_without_a_sample_yet_shows_none(shop: Client, machine: Machine) -> None:
    factories.machine_events(machine, (JOB_STARTED, STARTED, None))

    panel = shop.get(reverse("machine_status_panel", args=[machine.pk])).content.decode()

    assert 'id="machine-state">Printing' in panel
    assert 'id="job-completion">—<' in panel and 'id="job-layer">—<' in panel
    assert "none yet" in panel and "progress-bar" not in panel


def test_the_status_panel_shows_the_last_jobs_outcome_once_it_ended(
    shop: Client, machine: Machine
) -> None:
    factories.machine_events(
        machine,
        (JOB_STARTED, STARTED, None),
        (PROGRESS, sample(40.0), None),
        (JOB_ENDED, ENDED, None),
    )

    panel = shop.get(reverse("machine_status_panel", args=[machine.pk])).content.decode()

    assert 'id="machine-state">Idle' in panel
    assert "failed" in panel and "Nozzle clogged" in panel and "bracket.gcode" in panel
    assert "3600 s" in panel and "12.5 cm³" in panel
    assert "current-job" not in panel


def test_a_machine_that_reported_no_job_says_so(shop: Client, machine: Machine) -> None:
    panel = shop.get(reverse("machine_status_panel", args=[machine.pk])).content.decode()

    assert 'id="machine-state">No job reported' in panel
    assert samples_of(shop, machine)["samples"] == []
