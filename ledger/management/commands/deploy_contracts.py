"""Deploy the ledger's contracts to the configured chain from the operator account, and record
them as Deployment rows. Idempotent: a contract whose recorded address still holds code built
from the current artifact is left alone, so `make run` can call this every time."""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from eth_utils.address import is_address, to_checksum_address
from web3 import Web3

from ledger.chain import chain_config, operator_account, web3_client
from ledger.contracts import DEV_CHAIN_IDS, TEST_STABLECOIN, DeployError, DeployOutcome, deploy_all


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for the node to answer (it may be starting alongside)",
        )
        parser.add_argument(
            "--with-test-token",
            action="store_true",
            help=f"deploy {TEST_STABLECOIN} even though the chain id is not a development chain's "
            f"({', '.join(map(str, sorted(DEV_CHAIN_IDS)))})",
        )
        parser.add_argument(
            "--replace-auction-house",
            action="store_true",
            help="deploy a changed AuctionHouse even though the recorded one still holds escrow "
            "or open auctions (they stay on the old contract, which the app no longer uses)",
        )
        parser.add_argument(
            "--admin",
            metavar="ADDRESS",
            help="holder of the contracts' admin role (default: the operator account)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        admin = options["admin"]
        if admin is not None and not is_address(admin):
            raise CommandError(f"--admin {admin!r} is not an address")
        try:
            config = chain_config()
            account = operator_account()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        w3 = web3_client(config)
        self._wait_for_node(w3, config.rpc_url, options["wait"])
        self._say(f"Chain {config.chain_id} at {config.rpc_url}, operator {account.address}")
        try:
            deploy_all(
                w3,
                account=account,
                admin=to_checksum_address(admin) if admin else None,
                with_test_token=options["with_test_token"],
                config=config,
                on_outcome=self._report,
                replace_in_use=options["replace_auction_house"],
            )
        except DeployError as exc:
            raise CommandError(str(exc)) from exc

    def _report(self, outcome: DeployOutcome) -> None:
        style = self.style.SUCCESS if outcome.deployed else self.style.NOTICE
        self._say(style(str(outcome)))

    def _say(self, message: str) -> None:
        if self.verbosity > 0:
            self.stdout.write(message)

    @staticmethod
    def _wait_for_node(w3: Web3, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not w3.is_connected():
            if time.monotonic() >= deadline:
                waited = f" within {seconds:g}s" if seconds else " (try --wait SECONDS)"
                raise CommandError(f"the chain node at {url} does not answer{waited}")
            time.sleep(0.25)
