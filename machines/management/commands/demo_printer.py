"""`manage.py demo_printer ACTION`: the demo's virtual printer (machines/demo/), which
`make run DEMO_PRINTER=1` seeds and runs under supervisord (supervisord.printer.conf).

    seed [--port 8000] [--octoprint-port 5000]  register and pair the printer (before the stack)
    octoprint   OctoPrint with its Virtual Printer, in the foreground
    agent       the printer's `printfair agent run`, once OctoPrint and PrintFair are up
    print       have the print farm win a small job, print a part of it, and end
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from devtools.virtual_printer import NOT_INSTALLED, PASSWORD, USER, installed
from machines.demo import DemoPrinter
from machines.demo.order import DemoOrder
from machines.demo.printing import (
    OCTOPRINT_START,
    Printing,
    attested_records,
    octoprint_ready,
    print_part,
    verified,
)
from machines.demo.seed import demo_printer_seed

#: How long the print and its reports may take before `print` stops waiting for them.
RECORDS_TIMEOUT = 180.0
VERIFY_TIMEOUT = 120.0


class Command(BaseCommand):
    help = "The demo's virtual printer (make run DEMO_PRINTER=1): seed, octoprint, agent, print."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        seed = actions.add_parser("seed", help="register and pair the printer of the print farm")
        seed.add_argument("--port", type=int, default=8000, help="PrintFair's port")
        seed.add_argument("--octoprint-port", type=int, default=5000, help="OctoPrint's port")
        actions.add_parser("octoprint", help="run OctoPrint with its Virtual Printer")
        actions.add_parser("agent", help="run the printer's agent once OctoPrint has its key")
        actions.add_parser("print", help="win a small job for the farm and print a part of it")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        printer = DemoPrinter.here()
        if action == "seed":
            self._seed(printer, port=options["port"], octoprint_port=options["octoprint_port"])
        elif action == "octoprint":
            self._octoprint(printer)
        elif action == "agent":
            self._agent(printer)
        else:
            self._print(printer)

    def _seed(self, printer: DemoPrinter, *, port: int, octoprint_port: int) -> None:
        machine = demo_printer_seed(printer=printer, port=port, octoprint_port=octoprint_port)
        self.stdout.write(
            f"  Demo printer  machine {machine.pk}, {machine}, of {machine.operator}: paired.\n"
            f"                OctoPrint http://127.0.0.1:{octoprint_port}/ ({USER} / {PASSWORD})"
            "\n  In about four minutes the print farm wins a small job of the customer's and "
            "prints a part of it\n  (the `print` lines say where to look).\n"
        )

    def _octoprint(self, printer: DemoPrinter) -> None:
        if not installed():
            raise CommandError(NOT_INSTALLED)
        host = printer.octoprint()
        host.prepare()
        self.stdout.write(f"OctoPrint at {host.url}/, its output in {host.log}")
        self.stdout.flush()
        # What OctoPrint says at every start (its environment checks, its placeholder server's
        # requests, a traceback for the pip its venv has none of) would flood the stack's output.
        log = os.open(host.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for stream in (1, 2):
            os.dup2(log, stream)
        argv = host.serve_argv()
        os.execv(argv[0], argv)  # noqa: S606 - supervisord runs OctoPrint itself from here

    def _agent(self, printer: DemoPrinter) -> None:
        # A new agent checks its key with PrintFair before it starts, and needs OctoPrint's key;
        # an OctoPrint still starting would have it report the host lost, again and again.
        printer.wait_for_printfair(self.stdout.write)
        printer.wait_for_octoprint_key(self.stdout.write)
        printer.octoprint().wait_until_serving(timeout=OCTOPRINT_START)
        argv, env = printer.agent_command()
        os.execve(argv[0], argv, env)  # noqa: S606 - the project's own command

    def _print(self, printer: DemoPrinter) -> None:
        say = self.stdout.write
        host = octoprint_ready(printer)
        say(f"OctoPrint's printer is connected and heating ({host.url}/)")
        printer.wait_for_printfair(say)
        order = DemoOrder(printer).run(say)
        printing = print_part(printer, host, order)
        say(f"printing part {printing.part_serial} of job {order.job_id} (print ticket "
            f"{printing.ticket}): {printing.file_name}")  # fmt: skip
        # The print is under way: from here on whatever goes wrong is only said, and the command
        # ends well all the same, since supervisord would start it again, and it would print again.
        try:
            self._report(printer, printing)
        except Exception as exc:
            say(f"The part is printing, but what became of it cannot be told: {exc!r}")

    def _report(self, printer: DemoPrinter, printing: Printing) -> None:
        """Where the customer sees the print's machine-attested records, and what
        `printfair verify` says of the start once it is anchored."""
        say = self.stdout.write
        records = attested_records(printing, RECORDS_TIMEOUT)
        if len(records) < 2:
            say(
                f"The part's machine-attested start and finish are not on its timeline after "
                f"{RECORDS_TIMEOUT:.0f} s: see the agent's lines above."
            )
            return
        site, rpc = printer.settings().api, settings.CHAIN_PUBLIC_RPC_URL
        job_page = reverse("job_detail", args=[printing.order.job_id])
        machine_page = reverse("machine_detail", args=[printer.settings().machine])
        say(
            "\n".join(
                [
                    f"The machine signed the start and the finish of part "
                    f"{printing.part_serial}: both are on its timeline, marked machine-attested.",
                    f"  The customer's job page  {site}{job_page}",
                    f"  The machine's page       {site}{machine_page}",
                    *(
                        f"  {record.get_kind_display():<15}  {site}"
                        f"{reverse('verify_record', args=[record.pk])}"
                        for record in records
                    ),
                    f"  Checked with no account once anchored:  printfair verify {records[0].pk} "
                    f"--rpc {rpc}",
                ]
            )
        )
        try:
            say(verified(printer, records[0], rpc=rpc, timeout=VERIFY_TIMEOUT))
        except CommandError as exc:
            say(f"printfair verify did not pass: {exc}")
