"""In a real browser: the customer watches a part's timeline fill in while the shop reports
through the API, checks a record against the chain with Verify, accepts once the quality gate is
met, opens the part's certificate and downloads its PDF; a logged-out visitor following the
certificate's verification link sees it verified, and sees it fail once a record is changed in
the database (so does the customer's timeline)."""

# ruff: noqa: F811 - `market` and `released` are fixtures, imported here and taken as arguments

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from marketplace.models import Job, User
from printshops.models import Certificate, PartRecord
from tests.browser.test_escrow_flow import log_in
from tests.ledger.test_bids import market  # noqa: F401
from tests.ledger.test_escrow import delivered, settle
from tests.printshops.test_production import Released, anchor_all, produce
from tests.printshops.test_releases import released  # noqa: F401

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
    measurement.get_by_role("button", name="Verify").click()
    verdict = page.locator("#verify-result .verify-verdict")
    expect(verdict).to_have_attribute("data-status", "verified")
    expect(verdict).to_contain_text("Verified against the chain.")

    # delivered; the customer accepts in the browser and gets the part's certificate
    delivered(job, shop)
    page.reload()
    page.get_by_role("button", name="Accept and pay the shop").click()
    settle()
    expect(page.locator("#order-status")).to_have_text("Accepted, escrow released")
    certificate = Certificate.objects.get(order__job=job, part_serial="P-1")
    page.reload()
    part.get_by_role("link", name="Certificate").click()
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
