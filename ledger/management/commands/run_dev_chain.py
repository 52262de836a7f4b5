"""Run the local development chain in the foreground (`make run` starts it): anvil with the
accounts of this machine's development mnemonic, a block every second, and its state kept under
var/chain/ so that a restart keeps the chain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ledger.anvil import Anvil


class Command(BaseCommand):
    help = "Run anvil for local development (not for production)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CHAIN_DEV_MNEMONIC:
            raise CommandError("No development mnemonic: this is for local settings only.")
        port = urlparse(settings.CHAIN_RPC_URL).port or 8545
        state = Path(settings.VAR_DIR) / "chain" / "state.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        # Interval mining: a long-lived anvil in automine mode stalls under bursts (foundry#10122).
        node = Anvil(
            mnemonic=settings.CHAIN_DEV_MNEMONIC,
            chain_id=settings.CHAIN_ID,
            port=port,
            block_time=1,
            state=state,
        )
        os.execv(node.args[0], node.args)  # noqa: S606 - replace this process with anvil
