"""What `print` does, as a person at the print farm would: OctoPrint made ready (an API key for
the agent, the printer connected and preheated), the released design fetched and decrypted by the
farm's CLI and sliced, a print ticket taken for the part, the agent told which file is for that
ticket (and that it is sliced from the design), the file uploaded and the print started. The
agent reports the rest; the records its signed start and finish make on the part's timeline are
what `print` waits for, and what `printfair verify` checks without an account."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import CommandError

from devtools.virtual_printer import OctoPrintHost, sliced_gcode
from machines.demo import DemoPrinter
from machines.models import Machine
from marketplace.models import Order
from printfair.cli.keyfile import write_private
from printshops.models import PartRecord

#: The part is printed as a 1:10 model: a few seconds on the Virtual Printer (the whole part
#: would take minutes), and what the slicing profile the machine signs says.
SCALE = 0.1
SLICER = "PrintFair demo slicer (devtools/virtual_printer.py)"
PROFILE = "perimeters only, 0.3 mm layers, scaled 1:10"
#: supervisord starts OctoPrint beside `print`; it takes about 10 s.
OCTOPRINT_START = 120.0
PRINTED = (PartRecord.Kind.PRINT_STARTED, PartRecord.Kind.PRINT_FINISHED)


def octoprint_ready(printer: DemoPrinter) -> OctoPrintHost:
    """The printer's OctoPrint, up, with an API key that works (made once and kept where the
    agent reads it), its printer connected and heating to the G-code's temperatures."""
    host = printer.octoprint()
    host.wait_until_serving(timeout=OCTOPRINT_START)
    if not host.api_key or not host.key_works():
        host.api_key = host.make_api_key()
        write_private(printer.octoprint_key_file, host.api_key + "\n", replace=True)
    if not host.flags().get("operational"):
        host.connect_printer()
    host.preheat()
    return host


@dataclass(frozen=True)
class Printing:
    """A print started: its part and ticket."""

    order: Order
    part_serial: str
    ticket: int
    file_name: str


def print_part(printer: DemoPrinter, host: OctoPrintHost, order: Order) -> Printing:
    """Print the next part of the order's job (its licence has a print left)."""
    job_id = order.job_id
    folder = printer.root / "prints" / f"job-{job_id}"
    (design,) = printer.cli_json("design", "get", str(job_id), "-o", str(folder), "--force")
    gcode = sliced_gcode(Path(design["path"]), layers=None, scale=SCALE)
    machine = Machine.objects.get(pk=printer.settings().machine)
    serial = f"X4M-{order.licence.prints_taken + 1:03d}"
    ticket = printer.cli_json(
        "print-ticket", str(job_id), "--machine", str(machine), "--serial", serial
    )
    name = f"job-{job_id}-{serial}.gcode"
    (folder / name).write_bytes(gcode)
    printer.cli(
        "agent", "expect", str(machine.pk), str(folder / name), "--ticket", str(ticket["id"]),
        "--design-sha256", design["sha256"], "--slicer", SLICER, "--profile", PROFILE,
    )  # fmt: skip
    host.upload(name, gcode)
    host.start_print()
    return Printing(order=order, part_serial=serial, ticket=int(ticket["id"]), file_name=name)


def attested_records(printing: Printing, timeout: float) -> list[PartRecord]:
    """The part's machine-attested start and finish, once both are on its timeline (what there
    is after `timeout`)."""
    give_up = time.monotonic() + timeout
    while True:
        records = list(
            PartRecord.objects.filter(
                order=printing.order,
                part_serial=printing.part_serial,
                kind__in=PRINTED,
                attestation__isnull=False,
            ).order_by("seq")
        )
        if len(records) == len(PRINTED) or time.monotonic() > give_up:
            return records
        time.sleep(1)


def verified(printer: DemoPrinter, record: PartRecord, *, rpc: str, timeout: float) -> str:
    """What `printfair verify` says of `record`, checked against the chain through `rpc` (no
    account), once its batch is anchored there: until then it fails, and is asked again."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            return printer.cli("verify", str(record.pk), "--rpc", rpc)
        except CommandError:
            if time.monotonic() > give_up:
                raise
        time.sleep(3)
