"""The demo `make run` seeds: accounts, verified shops with API keys and a published job, once
however often it runs, and a measurement sheet that carries the walk-through's parts through the
job's quality gate."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from marketplace.models import Job, User
from printfair.cli.commands.report import read_measurements
from printshops.management.commands.seed_demo import (
    DEMO_MEASUREMENTS,
    PRINT_FARM,
    SHOPS,
    shop_folder,
)
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
    closes = f"The demo job is #{job.pk}: it closes for bids at {job.commit_deadline:%H:%M} UTC"
    assert closes in printed.getvalue() and closes in again.getvalue()
    assert f"JOB={job.pk}\n" in again.getvalue() and "seed_demo --restart" in again.getvalue()
    assert User.objects.count() == 2 + len(SHOPS)
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == len(SHOPS)
    # the walk-through's shops have a folder each for their CLI, its secrets readable by the
    # owner only (the print farm's CLI lives with its printer)
    walkers = [shop for shop in SHOPS if shop.email != PRINT_FARM]
    for shop in walkers:
        folder = shop_folder(shop)
        assert str(folder) in again.getvalue()
        for name in ("env", "api-key", "passphrase"):
            assert (folder / name).stat().st_mode & 0o777 == 0o600
        env = (folder / "env").read_text()
        assert f"PRINTFAIR_HOME={folder.resolve()}" in env
        assert "PRINTFAIR_API=http://127.0.0.1:8000/" in env
    assert len(list((tmp_path / "demo-shops").iterdir())) == len(walkers) == 2
    # the walk-through's sheet: each of the job's parts measured on each characteristic of the
    # gate, all passing (the parts' serials are the ones the walk-through gives its tickets)
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    assert f"report csv $JOB {DEMO_MEASUREMENTS}" in readme and "--serial X4-00$n" in readme
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
    # ... and the walk-through's short one, whose windows it chooses
    call_command(
        "seed_demo", "--restart", "--bidding-minutes", "3", "--reveal-minutes", "1",
        stdout=io.StringIO(),
    )  # fmt: skip
    short = Job.objects.latest("pk")
    assert short.reveal_deadline - short.commit_deadline == timedelta(minutes=1)
    assert timedelta(minutes=2) < short.commit_deadline - timezone.now() <= timedelta(minutes=3)
    # ... on the port the demo was seeded with (`PORT=8080 make run`), which the shops' folders
    # keep pointing at
    call_command("seed_demo", "--port", "8080", stdout=io.StringIO())
    call_command("seed_demo", "--restart", stdout=io.StringIO())
    for shop in (s for s in SHOPS if s.email != PRINT_FARM):
        assert "PRINTFAIR_API=http://127.0.0.1:8080/" in (shop_folder(shop) / "env").read_text()
    for wrong in ("0", "10081", "soon"):
        with pytest.raises(CommandError, match="--bidding-minutes"):
            call_command("seed_demo", "--bidding-minutes", wrong, stdout=io.StringIO())
