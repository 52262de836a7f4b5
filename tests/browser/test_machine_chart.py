"""In a real browser: the shop's machine page draws the machine's recent samples with uPlot, a
line per temperature sensor and one for completion, and a sample the machine delivers while the
page is open appears on the chart and in the job's status without a reload."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from marketplace.models import User
from printfair.machine_events import JOB_STARTED, PROGRESS
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The chart and the status panel poll every 5 s; give them two rounds and a margin.
POLLED = 12_000
STARTED = {
    "file_name": "bracket.gcode", "file_sha256": "ab" * 32, "file_size": 1234,
    "ticket": "T-42", "derived_from": None,
}  # fmt: skip


def sample(completion: float) -> dict[str, Any]:
    return {
        "completion": completion,
        "elapsed_s": completion * 60,
        "layer": int(completion),
        "temperatures": {"tool0": 215.0 + completion / 10, "bed": 60.0},
    }


def test_the_chart_draws_each_sensor_and_takes_a_new_sample_without_a_reload(
    page: Page, live_server: Any, winning_shop: User
) -> None:
    # given a machine printing, with a sample three hours ago and one just now
    machine = factories.machine(winning_shop)
    now = timezone.now()
    factories.machine_events(
        machine,
        (JOB_STARTED, STARTED, now - timedelta(hours=3, minutes=5)),
        (PROGRESS, sample(20.0), now - timedelta(hours=3)),
        (PROGRESS, sample(50.0), now - timedelta(minutes=1)),
    )
    log_in(page, live_server.url, winning_shop)

    # when the shop opens the machine's page
    page.goto(f"{live_server.url}{reverse('machine_detail', args=[machine.pk])}")

    # then the chart is drawn, its legend naming each sensor, with the units on its axes
    chart = page.locator("#machine-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend .u-label")).to_have_text(["Time", "bed", "tool0", "Completion"])
    expect(chart.locator(".chart-summary")).to_contain_text("2 samples drawn")
    expect(page.locator("#machine-state")).to_have_text("Printing")
    expect(page.locator("#job-completion")).to_have_text("50.0 %")

    # a sample the machine delivers now shows up without a reload
    factories.machine_events(machine, (PROGRESS, sample(75.0), None))
    expect(chart.locator(".chart-summary")).to_contain_text("3 samples drawn", timeout=POLLED)
    expect(page.locator("#job-completion")).to_have_text("75.0 %", timeout=POLLED)

    # the last hour leaves out the sample of three hours ago
    chart.get_by_role("button", name="1 h").click()
    expect(chart.locator(".chart-summary")).to_contain_text("2 samples drawn")
