"""The demo `make run` seeds: accounts, verified shops with API keys and a published job, once
however often it runs, and a measurement sheet that carries the walk-through's parts through the
job's quality gate."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from marketplace.models import Job, User
from printfair.cli.commands.report import read_measurements
from printshops.management.commands.seed_demo import DEMO_MEASUREMENTS, SHOPS
from printshops.models import ApiKey

pytestmark = pytest.mark.django_db


def test_the_demo_is_seeded_once_and_its_sheet_meets_the_quality_gate(
    settings: Any, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    printed = io.StringIO()
    call_command("seed_demo", stdout=printed)
    again = io.StringIO()
    call_command("seed_demo", stdout=again)  # again: nothing is added
    job = Job.objects.get()
    assert job.status == Job.Status.OPEN and job.files.count() == 1
    # ... and both runs name the job that is open and when it closes, and how to open another
    closes = f"the demo job (#{job.pk}) closes for bids at {job.commit_deadline:%H:%M} UTC"
    assert closes in printed.getvalue() and closes in again.getvalue()
    assert "seed_demo --restart" in again.getvalue()
    assert User.objects.count() == 2 + len(SHOPS)
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == len(SHOPS)
    # the walk-through's sheet: each of the job's parts measured on each characteristic of the
    # gate, all passing (the parts' serials are the ones the walk-through gives its tickets)
    text = printed.getvalue()
    assert f"report csv JOB {DEMO_MEASUREMENTS}" in text and "--serial X4-00$n" in text
    rows = read_measurements(Path(settings.BASE_DIR) / DEMO_MEASUREMENTS)
    assert sorted((row.part_serial, row.clean["characteristic"]) for row in rows) == sorted(
        (f"X4-00{n}", characteristic)
        for n in range(1, job.quantity + 1)
        for characteristic in job.required_characteristics
    )
    assert all(row.clean["passed"] for row in rows)
    # the overall length measured is the design's: its longest side
    design = job.files.get()
    assert design.size_mm is not None
    lengths = {
        row.clean["nominal"] for row in rows if row.clean["characteristic"] == "Overall length"
    }
    assert lengths == {f"{max(design.size_mm):.2f}"}


def test_a_newcomer_who_missed_the_demo_auction_opens_a_fresh_one(
    settings: Any, tmp_path: Path
) -> None:
    # given: the demo, whose job has closed for bids
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    Job.objects.update(commit_deadline=timezone.now() - timedelta(minutes=1))
    # when: it is asked for a fresh auction (twice: each asks for one)
    for _ in range(2):
        call_command("seed_demo", "--restart", stdout=io.StringIO())
    # then: fresh jobs with the demo part, open for bids from now, and nothing else added
    fresh = Job.objects.filter(commit_deadline__gt=timezone.now(), status=Job.Status.OPEN)
    assert fresh.count() == 2 and all(job.files.count() == 1 for job in fresh)
    assert all(job.commit_deadline > timezone.now() + timedelta(minutes=14) for job in fresh)
    assert User.objects.count() == 2 + len(SHOPS)
