"""In a real browser at a phone's width (390 px): the customer's jobs table, design-files table
and production matrix show every column, each row stacked into labelled lines, with nothing off
screen; the production charts are drawn to fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from marketplace.models import Job, Order, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from printshops.models import PartRecord
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}


def labels_shown(page: Page, table: str) -> list[str]:
    """The labels a stacked table's first row shows, in order (its cells' ::before)."""
    return list(
        page.evaluate(
            """table => [...document.querySelectorAll(table + ' tbody tr:first-child td')]
                .map(td => getComputedStyle(td, '::before').content)
                .filter(c => c && c !== 'none').map(c => JSON.parse(c))""",
            table,
        )
    )


def fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_jobs_and_their_files_read_on_a_phone(
    page: Page, live_server: Any, customer: User, testdata: Path
) -> None:
    # given: a job of the customer's with a real STL
    job = factories.JobFactory.create(created_by=customer, title="Camera mount")
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    design_file_attach(actor=customer, job=job, upload=encrypt_chunks("case.stl", [data]))
    page.set_viewport_size(PHONE)

    # when: the customer reads its jobs on a phone
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}/jobs/")

    # then: every column is there, as a labelled line, and nothing is off screen
    expect(page.locator("#job-table thead")).to_be_hidden()
    assert labels_shown(page, "#job-table") == [
        "#", "Title", "Status", "Process · material", "Qty", "Files", "Bidding closes",
        "Needed by",
    ]  # fmt: skip
    assert fits(page)

    # and: the job's design files too
    page.get_by_role("link", name="Camera mount").click()
    row = page.locator("#design-file-table tr[data-file='case.stl']")
    expect(row).to_contain_text("cm³")
    assert labels_shown(page, "#design-file-table") == [
        "File", "Size", "Triangles", "Bounding box (X × Y × Z mm)", "Volume",
    ]  # fmt: skip
    assert row.locator(".bbox").bounding_box()["width"] <= PHONE["width"]  # type: ignore[index]
    assert fits(page)


def test_production_at_a_glance_reads_on_a_phone(
    page: Page, live_server: Any, customer: User, winning_shop: User
) -> None:
    # given: an order whose two parts were measured, one of them failing
    shop = winning_shop.organization
    assert shop is not None
    job = factories.auction_end(
        customer, {"A": shop}, (Job.Status.FUNDED, Order.Status.FUNDED, "A", None), "Bracket"
    )
    order = Order.objects.get(job=job)
    for serial, value in (("P-1", "3.21"), ("P-2", "3.31")):
        passed = abs(float(value) - 3.2) <= 0.05
        PartRecord.objects.create(
            order=order, part_serial=serial, seq=1, kind=PartRecord.Kind.QUALITY,
            occurred_at=timezone.now(), characteristic="Hole diameter", passed=passed,
            data={"measured": value, "nominal": "3.20", "tolerance_plus": "0.05",
                  "tolerance_minus": "0.05", "unit": "mm", "instrument": "Caliper"},
        )  # fmt: skip
    page.set_viewport_size(PHONE)

    # when: the customer opens the job on a phone
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}/jobs/{job.pk}/")

    # then: the parts at a glance, the matrix stacked into labelled lines, the chart drawn to fit
    expect(page.locator("#parts-passed")).to_have_text("1 of 10 parts passed")
    expect(page.locator("#production-matrix thead")).to_be_hidden()
    assert labels_shown(page, "#production-matrix") == ["Part", "Stage", "Hole diameter", "Verdict"]
    failing = page.locator('#production-matrix tr[data-part="P-2"]')
    expect(failing).to_have_attribute("data-verdict", "fail")
    canvas = page.locator('.quality-chart[data-characteristic="Hole diameter"] canvas')
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert fits(page)
