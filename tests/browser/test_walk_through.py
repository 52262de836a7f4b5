"""README's walk-through, followed in a real browser and a shell: its commands are read from the
README itself and run as written (so the two cannot drift apart), against this test's PrintFair
(the live server), chain and folders. Where a newcomer waits, the test passes the deadline at once
on the database's and the chain's clocks and does the background work as beat would; `make run`
itself is tests/test_run_stack.py's."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from ledger.anvil import Anvil
from marketplace.models import Job
from printshops.management.commands.seed_demo import CUSTOMER, DemoSecrets
from tests.scenarios import anchor_all, drain, finish_auction, pass_deadline, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

README = Path(settings.BASE_DIR) / "README.md"
#: What the README's commands say, and what they are here.
SITE, NODE = "http://127.0.0.1:8000", "http://127.0.0.1:8545"
#: The CLI as the winner and as the other shop (step 3 makes their keys).
WINNER, LOSER = (f". var/demo-shops/{shop}/env\n" for shop in ("rapid-layer-works",
                                                                "precision-metal-am"))  # fmt: skip


def walk_through() -> list[str]:
    """The shell blocks of the README's walk-through, in order."""
    section = README.read_text().split("### Walk-through", 1)[1].split("\n### ", 1)[0]
    return [textwrap.dedent(block) for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


class Newcomer:
    """The second terminal: the project's folder as a newcomer sees it (its `.venv` and the
    demo's measurement sheet; its `var/` this test's)."""

    def __init__(self, folder: Path, site: str, node: str) -> None:
        self.folder, self.site, self.node = folder, site, node
        self.env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    def run(self, commands: str) -> str:
        """`commands` as bash runs them, stopping at the first that fails; their output."""
        script = commands.replace(SITE, self.site).replace(NODE, self.node)
        done = subprocess.run(  # noqa: S603 - the README's own commands
            ["bash", "-e", "-c", script],  # noqa: S607
            cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture
def newcomer(deployed: Anvil, live_server: Any, settings: Any, tmp_path: Path) -> Newcomer:
    """The demo seeded as `make run` seeds it, on this test's PrintFair and chain."""
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.CHAIN_PUBLIC_RPC_URL = deployed.url
    folder = tmp_path / "project"
    folder.mkdir()
    for name in (".venv", "printshops"):
        (folder / name).symlink_to(Path(settings.BASE_DIR) / name)
    (folder / "var").symlink_to(settings.VAR_DIR)
    call_command("seed_demo", "--port", str(urlsplit(live_server.url).port), stdout=io.StringIO())
    return Newcomer(folder, live_server.url, deployed.url)


def stage(page: Page) -> str:
    """Where the job page's stepper stands (or what it says, for a job that left the way)."""
    page.reload()
    stepper = page.locator("#job-stage")
    return stepper.get_attribute("data-status") or stepper.inner_text()


def test_a_newcomer_follows_the_readme_from_make_run_to_a_verified_certificate(
    page: Page, browser: Browser, newcomer: Newcomer, live_server: Any, deployed: Anvil
) -> None:
    blocks = walk_through()
    assert len(blocks) == 6, "the test follows six blocks: change it with the README"
    chain = {"url": deployed.url}

    # 1. a short auction, opened by the command the README gives (the port stays the one the
    # first seed was given, as `make run` gives it)
    seed, set_job = blocks[0].strip().splitlines()
    argv = shlex.split(seed)
    assert argv[:3] == [".venv/bin/python", "manage.py", "seed_demo"] and set_job == "JOB=12"
    printed = io.StringIO()
    call_command(*argv[2:], stdout=printed)
    job_id = re.findall(r"^ +JOB=(\d+)$", printed.getvalue(), re.M)[-1]
    newcomer.env["JOB"] = job_id
    job = Job.objects.get(pk=job_id)
    assert (job.reveal_deadline - job.commit_deadline).total_seconds() == 60

    # 2. the customer logs in with the password `make run` printed and opens the job
    page.goto(f"{newcomer.site}/login/")
    page.get_by_label("Email").fill(CUSTOMER)
    page.get_by_label("Password").fill(DemoSecrets()[f"password:{CUSTOMER}"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="My jobs").first.click()
    page.locator(f"#job-table a[href='/jobs/{job_id}/']").click()  # the newest of the title's
    expect(page.locator("#job-stage")).to_have_attribute("data-status", "open")
    expect(page.locator("#job-stage .countdown")).to_contain_text("left")
    expect(page.locator("html[data-preview-ready]")).to_have_count(1)  # three.js has loaded
    page.locator("tr[data-file='rear_case_binary.stl']").get_by_title("3D preview").click()
    expect(page.locator("#design-preview")).to_have_attribute("data-state", "shown")
    expect(page.locator("#design-preview canvas")).to_have_count(1)

    # 3. two shops make their keys and bid; 4. bidding closes, both reveal
    newcomer.run(blocks[1])
    drain()
    page.reload()
    expect(page.locator("body")).to_contain_text("2 sealed bids received")
    pass_deadline(chain, job, "commit_deadline")
    assert stage(page) == "revealing"
    newcomer.run(blocks[2])
    drain()
    finish_auction(chain, job)
    assert stage(page) == "awarded"
    expect(page.locator("#order")).to_contain_text("Rapid Layer Works")
    expect(page.locator("#order")).to_contain_text("2,100.00")
    lost = newcomer.run(LOSER + ".venv/bin/printfair bids")
    assert re.search(rf"^\s*{job_id}\b.*\blost\b", lost, re.M), lost

    # 5. test dollars from the faucet, then the escrow funded
    page.get_by_role("link", name="Acme Drones Ltd").click()
    page.locator("#faucet").click()
    settle()
    page.goto(f"{newcomer.site}/jobs/{job_id}/")
    page.locator("#fund").click()
    settle()
    assert stage(page) == "funded"

    # 6. the winner prints, measures and ships; once the records are final, delivers
    newcomer.run(blocks[3])
    anchor_all()
    assert stage(page) == "shipped"
    expect(page.locator("#parts-passed")).to_have_text("4 of 4 parts passed")
    expect(page.locator("#gate-badge")).to_have_text("quality gate met")
    records = newcomer.run(WINNER + ".venv/bin/printfair records $JOB")
    assert "Quality gate met" in records.splitlines()[-1]
    newcomer.run(WINNER + blocks[4])
    settle()
    assert stage(page) == "delivered"
    # 7. the customer accepts
    page.get_by_role("button", name="Accept and pay the shop").click()
    settle()
    assert stage(page) == "accepted"

    # (on a phone, the page's tables stack into labelled lines, nothing off screen)
    page.set_viewport_size({"width": 390, "height": 844})
    for table, rows in (("#bids-ranked", 2), ("#money-trail", 4), ("#tickets", 4),
                        ("#production-matrix", 4)):  # fmt: skip
        expect(page.locator(f"{table} thead")).to_be_hidden()
        expect(page.locator(f"{table} tbody tr")).to_have_count(rows)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    # ... and opens a part's certificate, whose link verifies it against the chain
    page.locator('#production-matrix tr[data-part="X4-001"]').get_by_role("link").click()
    expect(page.get_by_role("heading", name="Certificate of conformance")).to_be_visible()
    verify_url = page.locator("#verify-url").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})  # its measurements stack on a phone
    expect(page.locator("#measurements thead")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    anchor_all()
    # (scanned from the PDF's QR code with a phone, by someone with no account)
    visitor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    visitor.goto(verify_url)
    verdict = visitor.locator(".verify-verdict")
    expect(verdict).to_have_attribute("data-status", "verified")
    expect(verdict).to_contain_text("Verified against the chain.")
    expect(visitor.locator("#included thead")).to_be_hidden()  # its records, stacked
    expect(visitor.locator('#included tr[data-status="verified"]')).to_have_count(5)
    assert visitor.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    visitor.context.close()
    certificate_id = verify_url.rstrip("/").rsplit("/", 1)[1]
    verified = newcomer.run(blocks[5].replace("CERTIFICATE_ID", certificate_id))
    assert "verified" in verified.lower(), verified
