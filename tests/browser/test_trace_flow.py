"""In a real browser: the customer watches a part's timeline fill in while the shop reports
through the API, checks a record against the chain with Verify, accepts once the quality gate is
met, opens the part's certificate and downloads its PDF; a logged-out visitor following the
certificate's verification link sees it verified, and sees it fail once a record is changed in
the database (so does the customer's timeline); a part whose failed measurement was followed by a
passing retest has a certificate that says PASS, on its page and its public verification page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from marketplace.models import Job, User
from printshops.models import Certificate, PartRecord
from tests.scenarios import (
    HOLE,
    LENGTH,
    Released,
    anchor_all,
    delivered,
    log_in,
    measured_part,
    post,
    produce,
    settle,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The timeline polls every 4 s; give it two rounds and a margin.
POLLED = 12_000


def test_customer_follows_production_accepts_and_a_visitor_verifies_the_certificate(
    page: Page, browser: Browser, live_server: Any, released: Released, customer: User
) -> None:
    job, _, shop = released
    Job.objects.filter(pk=job.pk).update(quantity=2, required_characteristics=["Bore diameter"])
    base = live_server.url
    log_in(page, base, customer)
    page.goto(f"{base}{reverse('job_detail', args=[job.pk])}")
    expect(page.locator("#gate-badge")).to_have_text("quality gate not met yet")

    # the shop reports production; the open page shows it without a reload
    produce(shop, job, "P-1")
    part = page.locator('section.part[data-part="P-1"]')
    expect(part.locator("li.timeline-item")).to_have_count(4, timeout=POLLED)
    measurement = part.locator('li[data-kind="quality"]')
    expect(measurement).to_contain_text("Bore diameter: 10.02")
    expect(measurement.locator(".badge")).to_have_text("pass")
    expect(measurement.locator(".anchor-state")).to_contain_text("waiting for the next batch")

    # anchored and final: the anchoring state follows; the gate counts the part
    anchor_all()
    expect(measurement.locator(".anchor-state")).to_contain_text("anchored, block", timeout=POLLED)
    gate = page.locator("#quality-gate")
    expect(gate).to_contain_text("1 of 2 parts have a passing measurement", timeout=POLLED)
    expect(gate).to_contain_text("Accepting the order waits for it.")
    produce(shop, job, "P-2")
    anchor_all()
    expect(gate).to_have_attribute("data-met", "true", timeout=POLLED)
    expect(page.locator("#gate-badge")).to_have_text("quality gate met")
    # at a glance: both parts passed, every stage reached, the matrix and the chart
    expect(page.locator("#parts-passed")).to_have_text("2 of 2 parts passed")
    expect(page.locator('#production-stages [data-stage="Shipped"]')).to_contain_text("2 shipped")
    cell = page.locator('#production-matrix tr[data-part="P-1"] td[data-characteristic]')
    expect(cell).to_have_attribute("data-status", "pass")
    expect(cell).to_contain_text("10.02")
    chart = page.locator('.quality-chart[data-characteristic="Bore diameter"]')
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart.locator(".u-legend")).to_contain_text("upper limit")
    # the records are behind a disclosure, which stays open through the polls; a record's
    # verification shows beside it, and stays too
    records = page.locator("#production-records")
    records.locator("summary").click()
    measurement.get_by_role("button", name="Verify").click()
    verdict = measurement.locator(".verify-slot .verify-verdict")
    expect(verdict).to_have_attribute("data-status", "verified")
    expect(verdict).to_contain_text("Verified against the chain.")
    # (the page polls while the shop produces: wait for the next poll's timeline)
    page.evaluate("document.getElementById('production-timeline').dataset.seen = 'yes'")
    polled = page.locator("#production-timeline:not([data-seen])")
    expect(polled).to_have_count(1, timeout=POLLED)
    expect(records).to_have_attribute("open", "")
    expect(verdict).to_have_attribute("data-status", "verified")

    # delivered; the customer accepts in the browser and gets the part's certificate
    delivered(job, shop)
    page.reload()
    page.get_by_role("button", name="Accept and pay the shop").click()
    settle()
    expect(page.locator("#order-status")).to_have_text("Accepted, escrow released")
    certificate = Certificate.objects.get(order__job=job, part_serial="P-1")
    page.reload()
    page.locator('#production-matrix tr[data-part="P-1"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name="Certificate of conformance")).to_be_visible()
    expect(page.locator("svg").first).to_be_visible()  # the QR code
    expect(page.locator("body")).to_contain_text("10.02")
    with page.expect_download() as download_info:
        page.locator("#certificate-pdf").click()
    pdf = PdfReader(io.BytesIO(download_info.value.path().read_bytes()))
    text = "".join(pdf_page.extract_text() for pdf_page in pdf.pages)
    verify_url = page.locator("#verify-url").inner_text()
    assert verify_url == f"{base}{reverse('verify_record', args=[certificate.pk])}"
    assert "P-1" in text and verify_url in "".join(text.split())

    # a logged-out visitor opens the certificate's verification page
    visitor = browser.new_context().new_page()
    visitor.goto(verify_url)
    expect(visitor.get_by_role("heading", name="Certificate of conformance")).to_be_visible()
    verdict = visitor.locator(".verify-verdict")
    # the certificate is itself a record: anchored with the next batch
    expect(verdict).to_have_attribute("data-status", "pending")
    expect(verdict).to_contain_text("Not anchored yet.")
    anchor_all()
    visitor.reload()
    expect(verdict).to_have_attribute("data-status", "verified")
    expect(verdict).to_contain_text("Verified against the chain.")
    expect(visitor.locator("tr[data-status]")).to_have_count(len(certificate.records))
    expect(visitor.locator('tr[data-status="verified"]')).to_have_count(len(certificate.records))

    # a measurement is quietly "improved" in the database: both pages say so
    record = PartRecord.objects.get(part_serial="P-1", kind=PartRecord.Kind.QUALITY)
    PartRecord.objects.filter(pk=record.pk).update(data={**record.data, "measured": "10.00"})
    visitor.reload()
    expect(verdict).to_have_attribute("data-status", "failed")
    expect(verdict).to_contain_text("Verification failed.")
    expect(visitor.locator('tr[data-status="altered"]')).to_have_count(1)
    page.goto(f"{base}{reverse('job_detail', args=[job.pk])}")
    expect(part).to_have_attribute("data-failing", "true")
    expect(part.locator(".part-failing")).to_have_text("fails verification")
    expect(part.locator('li[data-kind="quality"]')).to_contain_text("altered since anchoring")
    visitor.context.close()


def test_the_certificate_of_a_part_that_passed_its_retest_says_pass(
    page: Page,
    browser: Browser,
    live_server: Any,
    released: Released,
    customer: User,
    login: Callable[[User | None], Client],
) -> None:
    job, _, shop = released
    Job.objects.filter(pk=job.pk).update(quantity=1, required_characteristics=[HOLE, LENGTH])
    # given: the hole measured out of tolerance, then re-measured within it; accepted, released
    measured_part(shop, job, "P-1", (HOLE, "3.30"), (HOLE, "3.22"), (LENGTH, "42.01"))
    anchor_all()
    delivered(job, shop)
    assert "Accepted" in post(login(customer), "order_accept", job)
    settle()
    certificate = Certificate.objects.get(order__job=job, part_serial="P-1")
    base = live_server.url

    # when: the customer opens the part's certificate from the job page
    log_in(page, base, customer)
    page.goto(f"{base}{reverse('job_detail', args=[job.pk])}")
    row = page.locator('#production-matrix tr[data-part="P-1"]')
    # (its row in the matrix: the hole passes at its retest, marked as one)
    hole_cell = row.locator(f'td[data-characteristic="{HOLE}"]')
    expect(hole_cell).to_have_attribute("data-status", "pass")
    expect(hole_cell).to_contain_text("3.22")
    expect(hole_cell.locator(".retest")).to_have_text("retest")
    expect(hole_cell).to_have_attribute("title", re.compile("earlier 3.30"))
    row.get_by_role("link", name="certificate").click()

    # then: PASS, decided by the retest; the failed measurement is listed as superseded
    result = page.locator("#certificate-result")
    expect(result).to_have_attribute("data-verdict", "pass")
    expect(result).to_contain_text("Result: PASS")
    expect(result).to_contain_text("1 earlier measurement, superseded by a retest")
    hole = page.locator(f'#measurements tbody[data-characteristic="{HOLE}"]')
    expect(hole).to_have_attribute("data-result", "pass")
    expect(hole.locator('tr[data-superseded="false"] .result')).to_have_text("PASS")
    superseded = hole.locator('tr[data-superseded="true"]')
    expect(superseded).to_contain_text("3.30")
    expect(superseded).to_contain_text("superseded by a retest, not counted")
    expect(superseded.locator(".result")).to_have_text("fail, superseded")
    expect(page.locator("#measurements")).not_to_contain_text("FAIL")

    # a logged-out visitor following the QR code sees the same result
    verify_url = page.locator("#verify-url").inner_text()
    assert verify_url == f"{base}{reverse('verify_record', args=[certificate.pk])}"
    visitor = browser.new_context().new_page()
    visitor.goto(verify_url)
    verdict = visitor.locator("#certificate-verdict")
    expect(verdict).to_have_attribute("data-verdict", "pass")
    expect(verdict.locator(".verdict-overall")).to_have_text("PASS")
    expect(verdict.locator(f'tr[data-characteristic="{HOLE}"]')).to_contain_text("3.22 mm")
    expect(verdict.locator(f'tr[data-characteristic="{HOLE}"] .superseded')).to_contain_text(
        "3.30 mm fail"
    )
    expect(verdict.locator(f'tr[data-characteristic="{LENGTH}"]')).to_contain_text("PASS")
    visitor.context.close()
