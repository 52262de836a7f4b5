"""In a real browser, on a desktop and on a phone: the customer's job page shows the stage stepper
with the job's current step, and a countdown to the deadline that step waits for, which runs."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from marketplace.models import Job, User
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_job_page_says_where_the_job_stands_and_counts_down(
    page: Page, live_server: Any, customer: User, width: int
) -> None:
    # given: a job open for bids for another 20 minutes
    now = timezone.now()
    job = factories.JobFactory.create(
        created_by=customer, status=Job.Status.OPEN, published_at=now,
        commit_deadline=now + timedelta(minutes=20), reveal_deadline=now + timedelta(minutes=30),
    )  # fmt: skip
    page.set_viewport_size({"width": width, "height": 900})

    # when: the customer opens it
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}{reverse('job_detail', args=[job.pk])}")

    # then: the stepper shows the way, this job on its second step, with every step visible
    stage = page.locator("#job-stage")
    current = stage.locator('[aria-current="step"]')
    expect(current).to_have_attribute("data-step", "open")
    expect(current).to_contain_text("Open for bids")
    expect(stage.locator('[data-step="draft"]')).to_have_class("stepper-step done")
    expect(stage.locator(".stepper-step")).to_have_count(9)
    for step in stage.locator(".stepper-step").all():
        expect(step).to_be_in_viewport()
    # ... what happens next, and a countdown to it that runs
    expect(page.locator("#stage-next")).to_contain_text("bidding closes at")
    countdown = page.locator("#stage-next .countdown")
    expect(countdown).to_contain_text(" s left")  # the page's own count, to the second
    first = countdown.inner_text()
    assert re.fullmatch(r"1\d min \d\d s left", first), first  # (20 min less the page's load)
    expect(countdown).not_to_have_text(first, timeout=3_000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
