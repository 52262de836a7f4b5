"""A new customer signs up, posts a job, uploads a design with a progress bar, sees its
geometry, downloads it back and publishes it; the demo shop then finds it in the API."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from marketplace.models import Job, User
from printshops.services import api_key_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_up(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/signup/")
    page.get_by_label("Your name").fill("Grace Engineer")
    page.get_by_label("Work email").fill(email)
    # The password's rules are there before the first try.
    expect(page.get_by_text("Your password must contain at least 8 characters.")).to_be_visible()
    page.get_by_label("Password").fill("a-long-passphrase-42")
    page.get_by_label("Company").fill("Hopper Robotics")
    page.get_by_label("A customer: I order parts").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    # The live server runs in this process: the mail it sent is in Django's test outbox.
    link = re.search(r"http://\S+/signup/confirm/\S+/", str(mail.outbox[-1].body))
    assert link is not None and mail.outbox[-1].to == [email]
    page.goto(link.group(0))
    expect(page.get_by_role("heading", name="My jobs")).to_be_visible()


def fill_job(page: Page) -> None:
    now = timezone.now()
    page.get_by_label("Title").fill("Camera mount")
    page.get_by_label("Process").select_option("sls")
    page.get_by_label("Material").select_option("pa12")
    page.get_by_label("Quantity").fill("25")
    page.get_by_label("ISO 9001").check()
    page.get_by_label("Bidding deadline", exact=False).fill(
        (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_label("Reveal deadline", exact=False).fill(
        (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_label("Needed by").fill((now + timedelta(days=30)).strftime("%Y-%m-%d"))
    page.get_by_label("Reserve price (USD)").fill("800")


def test_sign_up_post_upload_download_publish(
    page: Page, live_server: Any, testdata: Path, tmp_path: Path, winning_shop: User
) -> None:
    base = live_server.url
    sign_up(page, base, "grace@hopper.example")

    # Post a job; the first attempt has an error shown next to its field.
    page.get_by_role("link", name="Post a job").first.click()
    fill_job(page)
    page.get_by_label("Quantity").fill("0")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".invalid-feedback")).to_contain_text("Order at least one part.")
    page.get_by_label("Quantity").fill("25")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()

    # Publishing without a design file is refused, until one is uploaded.
    page.get_by_role("button", name="Publish for bids").click()
    refused = page.locator("#message-no_files")
    expect(refused).to_contain_text("Attach at least one design file")

    # Upload a real STL; the progress bar shows while it is sent. (Once the page has loaded: htmx
    # takes the form over when the document is ready; a click before that, which a loaded CI
    # machine once made, posts the form without it, and the page says "Uploaded 1 file.".)
    page.wait_for_load_state()
    part = testdata / "stl" / "rear_case_binary.stl"
    page.set_input_files("#id_files", str(part))
    page.get_by_role("button", name="Upload").click()
    row = page.locator("#design-file-table tr[data-file='rear_case_binary.stl']")
    expect(row).to_be_visible()
    expect(page.get_by_text("Uploaded and encrypted")).to_be_visible()
    expect(refused).to_have_count(0)  # it no longer holds
    job = Job.objects.get(title="Camera mount")
    design_file = job.files.get()
    expect(row).to_contain_text(f"{design_file.triangle_count:,}")
    expect(row.locator(".volume")).to_contain_text("cm³")
    expect(row.locator(".bbox")).to_contain_text("×")

    # A file of the wrong type gets a clear message and is not kept.
    bad = tmp_path / "notes.stl"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not an STL")
    page.set_input_files("#id_files", str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#design-files .alert-danger")).to_contain_text("notes.stl")
    assert job.files.count() == 1

    # Download gives back the exact bytes.
    with page.expect_download() as download_info:
        row.get_by_title("Download decrypted").click()
    downloaded = tmp_path / "downloaded.stl"
    download_info.value.save_as(downloaded)
    assert downloaded.read_bytes() == part.read_bytes()

    # Publish; the shop lists it through the API.
    page.get_by_role("button", name="Publish for bids").click()
    expect(page.get_by_text("Published: verified print shops can now bid.")).to_be_visible()
    _, token = api_key_create(actor=winning_shop, name="browser test", expires_at=None)
    listed = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/jobs/").json()
    assert [j["title"] for j in listed["results"]] == ["Camera mount"]


def test_upload_progress_bar_moves(page: Page, live_server: Any, tmp_path: Path) -> None:
    """A large upload shows a progress bar that the page updates while bytes are sent."""
    base = live_server.url
    sign_up(page, base, "ada@hopper.example")
    page.get_by_role("link", name="Post a job").first.click()
    fill_job(page)
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state()  # htmx has taken the upload form over (see above)
    big = tmp_path / "big.stl"
    triangles = 600_000  # ~30 MB, so that progress events fire before the upload completes
    with big.open("wb") as handle:
        handle.write(b"\0" * 80 + triangles.to_bytes(4, "little"))
        handle.write(b"\0" * (50 * triangles))
    # What the bar showed, as the page changed it: asserting on one instant would race the
    # upload, which a quiet machine finishes in well under a second.
    page.evaluate(
        """() => {
          const bar = document.getElementById('upload-progress');
          window.barSeen = [];
          new MutationObserver(() => window.barSeen.push({
            shown: !bar.classList.contains('d-none'),
            percent: Number(bar.getAttribute('aria-valuenow')),
          })).observe(bar, {attributes: true, attributeFilter: ['class', 'aria-valuenow']});
        }"""
    )
    page.set_input_files("#id_files", str(big))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#design-file-table tr[data-file='big.stl']")).to_be_visible(timeout=60_000)
    expect(page.locator("#upload-progress")).to_be_hidden()
    seen = page.evaluate("window.barSeen")
    percents = [s["percent"] for s in seen if s["shown"]]
    assert percents == sorted(percents) and percents[-1] == 100, seen
    assert len(set(percents)) >= 2, seen  # it moved while bytes were sent
    assert not seen[-1]["shown"], seen
