"""The demo's printer (`make run DEMO_PRINTER=1`, README "The demo printer"): a virtual printer in
OctoPrint (devtools/virtual_printer.py) that the demo's print farm, Loop Layer Print Farm (the
third shop of seed_demo), has registered and paired; the farm's `printfair agent` watching it; and
`print`, which plays the people: it has the farm win a small job of the demo's customer through
the market as it is, then prints a part of it, whose start and finish the machine signs.

- `seed`: the machine and its agent's key, approved with its pairing code, before the stack
  starts (`manage.py demo_printer seed`);
- `order`: the job, won by the farm's own `printfair` CLI and funded by the customer;
- `printing`: OctoPrint made ready, the design fetched and sliced, a print ticket, the print.

supervisord.printer.conf runs `manage.py demo_printer octoprint`, `... agent` and `... print`.
This module: where the printer's things are kept (var/demo-printer/) and how its commands run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import CommandError

from devtools.virtual_printer import OctoPrintHost
from printshops.management.commands.seed_demo import PRINT_FARM, DemoSecrets

#: The farm's `printfair` command, installed beside this interpreter.
PRINTFAIR = Path(sys.executable).with_name("printfair")
#: The kept secrets: the farm's API keys (the seed's with every scope, the agent's with two) and
#: the passphrase of its keys and its machine's key.
SHOP_TOKEN = f"token:{PRINT_FARM}"
AGENT_TOKEN = f"token:agent:{PRINT_FARM}"
PASSPHRASE = f"passphrase:{PRINT_FARM}"
#: How long a command of the farm's CLI may take.
CLI_TIMEOUT = 120


@dataclass(frozen=True)
class PrinterSettings:
    """What the seed fixed for the processes that come after it (printer.json)."""

    machine: int
    #: PrintFair's URL, as the farm's CLI and the agent reach it.
    api: str
    octoprint_port: int

    @property
    def octoprint_url(self) -> str:
        return f"http://127.0.0.1:{self.octoprint_port}"


@dataclass(frozen=True)
class DemoPrinter:
    """The printer's folder: the farm's CLI home (its keys, bid salts, and the agent's machine
    folder with the machine's key and signed events), OctoPrint's base folder, and the settings."""

    root: Path

    @classmethod
    def here(cls) -> DemoPrinter:
        return cls(Path(settings.VAR_DIR) / "demo-printer")

    @property
    def home(self) -> Path:
        return self.root / "shop"

    @property
    def octoprint_dir(self) -> Path:
        return self.root / "octoprint"

    @property
    def octoprint_key_file(self) -> Path:
        """OctoPrint's API key for the agent and `print`, which makes it once OctoPrint is up."""
        return self.octoprint_dir / "printfair-api-key"

    @property
    def settings_file(self) -> Path:
        return self.root / "printer.json"

    def write_settings(self, printer: PrinterSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.settings_file.write_text(json.dumps(printer.__dict__, indent=2) + "\n")

    def settings(self) -> PrinterSettings:
        try:
            return PrinterSettings(**json.loads(self.settings_file.read_text()))
        except FileNotFoundError:
            raise CommandError(
                f"{self.settings_file} is missing: run `manage.py demo_printer seed` first"
            ) from None

    def octoprint(self) -> OctoPrintHost:
        """The printer's OctoPrint, with the API key made for it if there is one yet."""
        key = self.octoprint_key_file
        return OctoPrintHost(
            self.octoprint_dir,
            port=self.settings().octoprint_port,
            api_key=key.read_text().strip() if key.exists() else "",
        )

    def env(self, token: str) -> dict[str, str]:
        """The farm's CLI environment, with the kept API key named `token`."""
        kept = DemoSecrets()
        return {
            **os.environ,
            "PRINTFAIR_API": self.settings().api,
            "PRINTFAIR_API_KEY": kept[token],
            "PRINTFAIR_HOME": str(self.home),
            "PRINTFAIR_PASSPHRASE": kept[PASSPHRASE],
        }

    def agent_command(self) -> tuple[list[str], dict[str, str]]:
        """`printfair agent run` for the machine, watching the OctoPrint, and its environment."""
        printer = self.settings()
        argv = [str(PRINTFAIR), "agent", "run", str(printer.machine)]
        env = {**self.env(AGENT_TOKEN), "OCTOPRINT_API_KEY_FILE": str(self.octoprint_key_file)}
        return [*argv, "--octoprint", printer.octoprint_url], env

    def cli(self, *args: str) -> str:
        """Run the farm's `printfair` with its own API key, as the farm would; its output."""
        try:
            done = subprocess.run(  # noqa: S603 - the project's own command
                [str(PRINTFAIR), *args],
                env=self.env(SHOP_TOKEN),
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CommandError(f"printfair {args[0]} took over {CLI_TIMEOUT} s") from None
        if done.returncode != 0:
            raise CommandError(f"printfair {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json"))

    def wait_for_printfair(self, say: Callable[[str], None]) -> None:
        """Until PrintFair answers (the web process deploys the contracts before it serves)."""
        url = self.settings().api + "/api/v1/chain/"

        def answers() -> bool:
            try:
                return requests.get(url, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        _wait_until(answers, f"PrintFair at {url}", say)

    def wait_for_octoprint_key(self, say: Callable[[str], None]) -> None:
        """Until OctoPrint's API key is made (by `print`, once OctoPrint is up)."""
        _wait_until(self.octoprint_key_file.exists, "OctoPrint's API key, which `print` makes", say)


def _wait_until(condition: Callable[[], bool], what: str, say: Callable[[str], None]) -> None:
    if condition():
        return
    say(f"waiting for {what}")
    while not condition():
        time.sleep(1)
