"""What `manage.py demo_printer seed` adds to the demo (after seed_demo, before the stack starts):
the print farm's virtual printer registered as its machine, the agent's key made in the farm's
folder and approved with its pairing code, as `printfair agent pair --light-kdf` and the shop's
approval would (PrintFair is not up yet to be asked), and an API key for the agent. Safe to run
again: a key the database does not know (a new database) is replaced by a new one."""

from __future__ import annotations

import secrets
import shutil

from django.conf import settings
from django.db import transaction

from machines.demo import AGENT_TOKEN, PASSPHRASE, DemoPrinter, PrinterSettings
from machines.models import Machine, MachineKey
from machines.services import machine_create, machine_key_approve, machine_key_propose
from marketplace.catalog import Process
from marketplace.models import User
from printfair.agent.store import AgentStore
from printfair.cli.commands.agent import KEY_FILE, machine_folder, machine_key_create
from printfair.keys import sign_registration
from printfair.machine_events import pairing_code, pairing_message
from printshops.management.commands.seed_demo import PRINT_FARM, DemoSecrets, api_key_kept
from printshops.models import ApiKey

MAKE, MODEL, SERIAL = "OctoPrint", "Virtual Printer", "VIRTUAL-0001"


def demo_printer_seed(*, printer: DemoPrinter, port: int, octoprint_port: int) -> Machine:
    """The farm's machine, paired; `printer`'s settings written for the processes to come."""
    farm = User.objects.get(email=PRINT_FARM)  # seed_demo's
    kept = DemoSecrets()
    passphrase = kept.keep(PASSPHRASE, lambda: secrets.token_urlsafe(16))
    with transaction.atomic():
        # The agent's key may report what its machine did and take print tickets, no more.
        scopes: list[str] = [ApiKey.Scope.MACHINES_WRITE, ApiKey.Scope.PRODUCTION_WRITE]
        api_key_kept(farm, kept, name=AGENT_TOKEN, scopes=scopes)
        machine = Machine.objects.filter(
            operator=farm.organization, make=MAKE, model=MODEL, serial=SERIAL
        ).first() or machine_create(
            actor=farm, make=MAKE, model=MODEL, serial=SERIAL, process=Process.FDM,
            build_x_mm=200, build_y_mm=200, build_z_mm=200, location="make run DEMO_PRINTER=1",
        )  # fmt: skip
        _pair(farm, machine, printer, passphrase)
    kept.save()
    printer.write_settings(
        PrinterSettings(
            machine=machine.pk, api=f"http://127.0.0.1:{port}", octoprint_port=octoprint_port
        )
    )
    return machine


def _pair(farm: User, machine: Machine, printer: DemoPrinter, passphrase: str) -> None:
    folder = machine_folder(printer.home, machine.pk)
    if (folder / KEY_FILE).exists():
        store = AgentStore(folder)
        address = store.get("address")
        store.close()
        if machine.keys.filter(address=address, status=MachineKey.Status.ACTIVE).exists():
            return
    # The folder of a machine this database does not know (it was made anew): its key and
    # numbering are not this machine's, so the agent starts over with a new key.
    shutil.rmtree(folder, ignore_errors=True)
    account = machine_key_create(folder, passphrase, light_kdf=True)
    store = AgentStore(folder)
    store.put(machine_id=machine.pk, chain_id=settings.CHAIN_ID, address=account.address)
    store.close()
    message = pairing_message(
        machine_id=machine.pk, address=account.address, chain_id=settings.CHAIN_ID
    )
    machine_key_propose(
        actor=farm,
        machine=machine,
        address=account.address,
        signature=sign_registration(account.key, message),
    )
    code = pairing_code(machine_id=machine.pk, address=account.address)
    machine_key_approve(actor=farm, machine=machine, code=code)
