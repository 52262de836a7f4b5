"""The demo printer's order: a small job of the demo's customer that the print farm wins through
the market as it is (its sealed bid and the reveal sent by its own `printfair` CLI, the auction
settled on chain, the escrow funded by the customer), so that the farm holds a licence to print a
part under.

`DemoOrder.step` looks at where the order is, does the next thing that can be done now, and
says what it waits for. `print` steps in real time (`run`): the chain's deadlines trail the
ones PrintFair shows by CHAIN_RELAY_MARGIN (two minutes), so the whole order takes about four.
A job that can no longer be won (a deadline missed while the stack was down, another winner, its
prints all taken) is left to end by itself, and a new one is published."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from ledger.models import ChainTx
from machines.demo import DemoPrinter
from marketplace import services
from marketplace.catalog import Finish, Material, Process
from marketplace.models import Job, Order, User
from marketplace.selectors import token_balance
from marketplace.services.accounts import require_customer
from marketplace.services.escrow import escrow_fund
from marketplace.services.wallets import customer_wallet_for, wallet_faucet
from printfair.cli.keyfile import KEYS_FILE
from printshops.management.commands.seed_demo import CUSTOMER, PRINT_FARM, demo_part_attach
from printshops.models import Bid, DesignRelease, Licence
from printshops.services import require_shop

JOB_TITLE = "X4 rear case, 1:10 fit-check model (demo printer)"
#: Short enough to watch: the farm bids at once, and reveals as soon as bidding closes.
BIDDING = timedelta(seconds=45)
REVEALING = timedelta(seconds=30)
PRICE_USD, LEAD_DAYS = "25", 3
#: How long `print` waits for the order before giving up (started again, it goes on from there).
ORDER_TIMEOUT = 15 * 60
STEP_SECONDS = 2.0


@dataclass(frozen=True)
class Waiting:
    """What the order waits for; `deadline` names the job's deadline ("commit_deadline",
    "reveal_deadline") that has to pass first, if one does."""

    what: str
    deadline: str | None = None


def _at(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S} UTC" if moment else "soon"


class DemoOrder:
    """The farm's way to a licence (see the module). `job` is the job it is at."""

    def __init__(self, printer: DemoPrinter) -> None:
        self.printer = printer
        self.customer = User.objects.get(email=CUSTOMER)
        self.farm = User.objects.get(email=PRINT_FARM)
        self.customer_org = require_customer(self.customer)
        self.farm_profile = require_shop(self.farm)
        self.job: Job | None = None
        self._keys_ready = False
        self._faucet: ChainTx | None = None
        self._funding: ChainTx | None = None

    def run(self, say: Callable[[str], None]) -> Order:
        """Step until the farm holds a licence with a print left; its order."""
        said = None
        give_up = time.monotonic() + ORDER_TIMEOUT
        while (waiting := self.step()) is not None:
            if waiting.what != said:
                say(f"waiting for {waiting.what}")
                said = waiting.what
            if time.monotonic() > give_up:
                raise CommandError(f"still waiting for {waiting.what} after {ORDER_TIMEOUT} s")
            time.sleep(STEP_SECONDS)
        return Order.objects.get(job=self.job)

    def step(self) -> Waiting | None:
        """The next thing done if it can be; what the order waits for, None once the farm
        holds a licence with a print left, its design released."""
        self._keys()
        self.job = self._current_job()
        if self.job is None:
            self.job = self._publish()
            return Waiting(f"job {self.job.pk}'s auction")
        order = Order.objects.filter(job=self.job).first()
        if order is None:
            return self._bid(self.job)
        if order.status == Order.Status.AWARDED:
            return self._fund(order)
        if not DesignRelease.objects.filter(licence__order=order).exists():
            return Waiting(f"job {self.job.pk}'s design, released to the farm once funded")
        return None

    def _keys(self) -> None:
        """The farm's keys, made and registered by its CLI (once: they stay in its folder)."""
        if self._keys_ready:
            return
        if not (self.printer.home / KEYS_FILE).exists():
            self.printer.cli("keys", "init", "--light-kdf")
        address = self.printer.cli_json("keys", "show")["address"]
        self.farm_profile.refresh_from_db()
        if self.farm_profile.eth_address != address:
            self.printer.cli("keys", "register")
        self._keys_ready = True

    def _current_job(self) -> Job | None:
        job = (
            Job.objects.filter(organization=self.customer_org, title=JOB_TITLE)
            .order_by("-pk")
            .first()
        )
        return None if job is None or self._over(job) else job

    def _over(self, job: Job) -> bool:
        """Whether the farm can no longer print under `job` (see the module)."""
        now = timezone.now()
        if job.status in (Job.Status.FAILED, Job.Status.CANCELLING, Job.Status.CANCELLED):
            return True
        order = Order.objects.filter(job=job).first()
        if order is not None:
            if order.shop_id != self.farm_profile.organization_id:
                return True
            if order.status == Order.Status.AWARDED:
                return order.funding_deadline is not None and now >= order.funding_deadline
            if order.status != Order.Status.FUNDED:
                return True
            licence = Licence.objects.filter(order=order).first()
            if licence is None:
                return False  # opened as the funding is applied
            return licence.closed_at is not None or licence.prints_taken >= licence.prints_allowed
        bid = Bid.objects.filter(job=job, organization=self.farm_profile.organization).first()
        if bid is None:
            return now >= job.commit_deadline
        return bid.status == Bid.Status.COMMITTED and now >= job.reveal_deadline

    @transaction.atomic
    def _publish(self) -> Job:
        now = timezone.now()
        job = services.job_create(
            actor=self.customer,
            spec=services.JobSpec(
                title=JOB_TITLE,
                description="A small model of the X4's rear case to check its fit, printed on "
                "the print farm's demo printer, which signs its start and finish itself.",
                process=Process.FDM,
                material=Material.PLA,
                quantity=1,
                spares=0,
                tolerance_mm=Decimal("0.300"),
                finish=Finish.AS_PRINTED,
                requires_machine_attestation=True,
                needed_by=(now + timedelta(days=14)).date(),
                reserve_price=Decimal("40"),
                commit_deadline=now + BIDDING,
                reveal_deadline=now + BIDDING + REVEALING,
                pricing_rule=Job.PricingRule.FIRST_PRICE,
            ),
        )
        demo_part_attach(self.customer, job)
        return services.job_publish(actor=self.customer, job=job)

    def _bid(self, job: Job) -> Waiting:
        bid = Bid.objects.filter(job=job, organization=self.farm_profile.organization).first()
        if timezone.now() < job.commit_deadline:
            if bid is None:
                self.printer.cli(
                    "bid", str(job.pk), "--price", PRICE_USD, "--lead-days", str(LEAD_DAYS)
                )
            return Waiting(
                f"bidding on job {job.pk} to close at {_at(job.commit_deadline)}",
                deadline="commit_deadline",
            )
        if bid is not None and bid.status == Bid.Status.COMMITTED:
            self.printer.cli("reveal", str(job.pk))
        return Waiting(
            f"job {job.pk}'s award: the chain settles its auction after "
            f"{_at(job.chain_reveal_deadline)}",
            deadline="reveal_deadline",
        )

    def _fund(self, order: Order) -> Waiting:
        """The customer funds the escrow from its wallet, topped up by the faucet if need be."""
        funded = Waiting(f"job {order.job_id}'s escrow, funded by the customer")
        if self._funding is not None:
            self._funding.refresh_from_db()
            if self._funding.status != ChainTx.Status.FAILED:
                return funded
        wallet = customer_wallet_for(organization=self.customer_org)
        if token_balance(wallet.address) < order.price:
            if self._faucet is not None:
                self._faucet.refresh_from_db()
            if self._faucet is None or self._faucet.status in (
                ChainTx.Status.FINAL,
                ChainTx.Status.FAILED,
            ):
                self._faucet = wallet_faucet(actor=self.customer)
            return Waiting("the customer's test dollars from the faucet")
        self._funding = escrow_fund(actor=self.customer, job=order.job)
        return funded
