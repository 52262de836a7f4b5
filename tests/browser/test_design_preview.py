"""In a real browser: the customer previews its own design files in 3D, an STL and a 3MF, drawn
by three.js (served from this site, no CDN) from the decrypting download, with every triangle
the upload counted; a shop has no preview (it sees geometry figures only until release)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from marketplace.models import User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_customer_turns_its_stl_and_3mf_in_3d(
    page: Page, live_server: Any, customer: User, testdata: Path, stored_files: Any, width: int
) -> None:
    # given: a job with an STL and a 3MF of the customer's
    job = factories.JobFactory.create(created_by=customer, title="Camera mount")
    files = {}
    for folder, name in (("stl", "rear_case_binary.stl"), ("3mf", "cube_gears.3mf")):
        data = (testdata / folder / name).read_bytes()
        files[name] = design_file_attach(
            actor=customer, job=job, upload=encrypt_chunks(name, [data])
        )
    stored = stored_files()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_viewport_size({"width": width, "height": 844})
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}{reverse('job_detail', args=[job.pk])}")
    preview = page.locator("#design-preview")
    expect(preview).to_be_hidden()

    # the buttons wait for three.js (a click before it loads would be lost)
    expect(page.locator("html[data-preview-ready]")).to_have_count(1)
    for name, design in files.items():
        # when: it asks for the file's preview
        page.locator(f"tr[data-file='{name}']").get_by_title("3D preview").click()
        # then: the part is drawn, with the triangles the upload counted
        expect(preview).to_have_attribute("data-state", "shown")
        expect(preview.locator("canvas")).to_have_count(1)
        expect(preview).to_have_attribute("data-triangles", str(design.triangle_count))
        expect(preview).to_contain_text(name)
        # ... within the page's width, on a phone too
        box = preview.locator("canvas").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        # ... and something is drawn: the canvas is not one flat colour
        colours = page.evaluate(
            """() => { const c = document.querySelector('#design-preview canvas');
                const copy = document.createElement('canvas'); copy.width = c.width;
                copy.height = c.height; const g = copy.getContext('2d'); g.drawImage(c, 0, 0);
                const px = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
                for (let i = 0; i < px.length; i += 4 * 97) seen.add(px[i] + ',' + px[i + 1]);
                return seen.size; }"""
        )
        assert colours > 3

    # and: three.js came from this site, and the preview left nothing decrypted behind
    assert all(url.startswith(live_server.url) for url in requests)
    assert any("/static/vendor/three/" in url for url in requests)
    page.get_by_role("button", name="Close the preview").click()
    expect(preview).to_be_hidden()
    assert stored_files() == stored


def test_a_shop_gets_no_preview_of_a_design(
    live_server: Any, customer: User, winning_shop: User, login: Any, testdata: Path
) -> None:
    job = factories.JobFactory.create(created_by=customer)
    data = (testdata / "stl" / "cube_binary.stl").read_bytes()
    design_file_attach(actor=customer, job=job, upload=encrypt_chunks("cube.stl", [data]))
    page = login(winning_shop).get(reverse("job_detail", args=[job.pk]))
    assert page.status_code == 404  # the job page is the customer's alone
    assert (
        "design_preview.js"
        in login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    )
