"""The demo's printer (`make run DEMO_PRINTER=1`, machines/demo/) without supervisord: seeded on the
test database, the print farm wins its order through the market (each deadline passed at once on
the chain's clock, where `print` waits for it in real time), the agent watches a real
OctoPrint (tests/octoprint_host.py), and `print` prints a part on it: the machine's signed
start and finish land on the part's timeline, and `printfair verify` checks them on chain."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command

from ledger.anvil import Anvil
from machines.demo import DemoPrinter
from machines.demo.order import DemoOrder
from machines.demo.printing import PROFILE, attested_records, octoprint_ready, print_part, verified
from marketplace.models import Order
from marketplace.services import auctions_finalize_due
from printfair.cli.keyfile import write_private
from printshops.models import PartRecord
from printshops.quality import DERIVED
from tests.octoprint_host import OctoPrintHost
from tests.scenarios import anchor_all, pass_deadline, settle

# One OctoPrint for the suite (tests/octoprint_host.py).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("octoprint")]
TIMEOUT = 60.0


@pytest.fixture
def printer(
    deployed: Anvil, live_server: Any, octoprint_host: OctoPrintHost, settings: Any, tmp_path: Path
) -> DemoPrinter:
    """The demo seeded with its printer, on this test's PrintFair, chain and OctoPrint (whose
    API key is where `print` keeps the one it makes)."""
    settings.VAR_DIR = tmp_path
    settings.CHAIN_PUBLIC_RPC_URL = deployed.url
    port = str(urlsplit(live_server.url).port)
    call_command("seed_demo", "--port", port, stdout=io.StringIO())
    octoprint_port = str(octoprint_host.port)
    seeded = io.StringIO()
    call_command("demo_printer", "seed", "--port", port, "--octoprint-port", octoprint_port,
                 stdout=seeded)  # fmt: skip
    assert "paired" in seeded.getvalue()
    demo = DemoPrinter.here()
    write_private(demo.octoprint_key_file, octoprint_host.api_key + "\n", replace=True)
    octoprint_host.wait_idle()
    return demo


@pytest.fixture
def agent(printer: DemoPrinter, tmp_path: Path) -> Iterator[Path]:
    """The printer's agent, as `demo_printer agent` starts it; its log, once it is connected."""
    argv, env = printer.agent_command()
    log = tmp_path / "agent.log"
    with log.open("w") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + TIMEOUT
    while "connected to the printer's host" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield log
    process.terminate()
    process.wait(timeout=30)


def test_the_demo_printer_prints_a_part_whose_start_and_finish_its_machine_attests(
    printer: DemoPrinter, deployed: Anvil, octoprint_host: OctoPrintHost, agent: Path
) -> None:
    # given: the farm's order won and funded, the background work done as beat would
    walk = DemoOrder(printer)
    for _ in range(20):
        if (waiting := walk.step()) is None:
            break
        settle()
        if waiting.deadline is not None:
            assert walk.job is not None
            pass_deadline({"url": deployed.url}, walk.job, waiting.deadline)
            auctions_finalize_due()
            settle()
    assert waiting is None, f"the order still waits: {waiting}"
    order = Order.objects.get(job=walk.job)
    assert order.shop.name == "Loop Layer Print Farm" and order.status == Order.Status.FUNDED

    # when: `print` prints a part of it
    printing = print_part(printer, octoprint_ready(printer), order)
    records = attested_records(printing, TIMEOUT)

    # then: its start and finish, signed by the machine, are on the part's timeline
    assert [r.kind for r in records] == [
        PartRecord.Kind.PRINT_STARTED,
        PartRecord.Kind.PRINT_FINISHED,
    ], agent.read_text()
    started, finished = records
    machine = printer.settings().machine
    assert [r.attestation["machine_id"] for r in records if r.attestation] == [machine] * 2
    assert started.data["design"] == DERIVED and started.data["profile"] == PROFILE
    assert started.data["print_file"] == printing.file_name
    assert finished.data["outcome"] == "completed"
    assert order.job.requires_machine_attestation
    # and, once anchored, `printfair verify` checks one on chain with no account
    anchor_all()
    said = verified(printer, finished, rpc=deployed.url, timeout=0)
    assert said.startswith("VERIFIED: print_finished") and "machine-attested" in said, said
