"""Seed the demo that `make run` shows: an admin, a customer with a published job and its design
file, and three verified print shops with API keys (the third, a desktop print farm, runs the
demo's printer under `make run DEMO_PRINTER=1`: machines/demo/). Safe to run again: it only adds
what is missing, and `--restart` opens a fresh demo auction. Passwords and the API key tokens
are generated once and kept in var/secrets/ (never committed). Each of the first two shops gets a
folder, var/demo-shops/<shop>/, that its `printfair` CLI runs from in the README's walk-through
(an `env` file to source, its API key and its keys' passphrase)."""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from marketplace import services
from marketplace.catalog import Certification, Finish, Material, Process
from marketplace.models import Job, Organization, User
from marketplace.uploads import encrypt_chunks
from printfair.cli.keyfile import write_private
from printshops import services as shop_services
from printshops.authentication import hash_secret
from printshops.models import ApiKey, PrintShopProfile
from printshops.services import ShopCapabilities

# The tests read this file too, through a link (tests/data/samples/stl/rear_case_binary.stl).
DEMO_PART = Path(__file__).resolve().parents[2] / "demo" / "rear_case_binary.stl"
# Measurements of the demo parts for `printfair report csv` (relative to the project).
DEMO_MEASUREMENTS = "printshops/demo/x4_measurements.csv"
DEMO_BIDDING_MINUTES = 15
DEMO_REVEAL_MINUTES = 5
#: Where the walk-through's shops keep their CLI's files (under VAR_DIR).
SHOP_FOLDERS = "demo-shops"
ADMIN = "admin@printfair.local"
CUSTOMER = "customer@printfair.local"
PRINT_FARM = "printer@printfair.local"


@dataclass(frozen=True)
class DemoShop:
    email: str
    name: str
    person: str
    capabilities: ShopCapabilities


SHOPS = [
    DemoShop(
        email="shop@printfair.local",
        name="Rapid Layer Works",
        person="Sam Shopfloor",
        capabilities=ShopCapabilities(
            description="Polymer prototypes and short runs, 24/7 production.",
            website="",
            country="DE",
            city="Munich",
            processes=[Process.FDM, Process.SLS, Process.MJF],
            materials=[
                Material.PLA,
                Material.PETG,
                Material.ABS,
                Material.PA12,
                Material.PA11,
                Material.TPU,
            ],
            certifications=[Certification.ISO_9001],
            build_x_mm=380,
            build_y_mm=284,
            build_z_mm=380,
            name_public=True,
        ),
    ),
    DemoShop(
        email="metal@printfair.local",
        name="Precision Metal AM",
        person="Mia Metal",
        capabilities=ShopCapabilities(
            description="Certified metal powder-bed fusion for aerospace and medical.",
            website="",
            country="FR",
            city="Toulouse",
            processes=[Process.DMLS, Process.SLS],
            materials=[Material.TI6AL4V, Material.SS316L, Material.ALSI10MG, Material.PA12],
            certifications=[Certification.ISO_9001, Certification.AS9100],
            build_x_mm=250,
            build_y_mm=250,
            build_z_mm=300,
            name_public=True,
        ),
    ),
    DemoShop(
        email=PRINT_FARM,
        name="Loop Layer Print Farm",
        person="Pat Printer",
        capabilities=ShopCapabilities(
            description="Desktop FDM printers for prototypes and fit checks.",
            website="",
            country="NL",
            city="Eindhoven",
            processes=[Process.FDM],
            materials=[Material.PLA, Material.PETG],
            certifications=[],
            build_x_mm=250,
            build_y_mm=210,
            build_z_mm=210,
            name_public=True,
        ),
    ),
]


class DemoSecrets:
    """The demo's passwords, API key tokens and passphrases: made once, kept in
    var/secrets/demo.json (never committed), so that what the demo printed keeps working."""

    def __init__(self) -> None:
        self.path = Path(settings.VAR_DIR) / "secrets" / "demo.json"
        self.saved: dict[str, str] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def __getitem__(self, name: str) -> str:
        return self.saved[name]

    def keep(self, name: str, make: Callable[[], str]) -> str:
        """The value kept under `name`, made by `make` the first time."""
        if name not in self.saved:
            self.saved[name] = make()
        return self.saved[name]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.write_text(json.dumps(self.saved, indent=2))
        self.path.chmod(0o600)


def api_key_kept(
    user: User, kept: DemoSecrets, *, name: str = "", scopes: list[str] | None = None
) -> str:
    """The token of a demo API key of the user's shop, kept across runs so that the printed
    token keeps working: made again only if it was revoked (or the database is new)."""
    name = name or f"token:{user.email}"
    token = kept.saved.get(name)
    if token is not None:
        prefix, _, secret_part = token.removeprefix("pf_").partition("_")
        key = ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
        if key is not None and key.secret_hash == hash_secret(secret_part):
            return token
    _, token = shop_services.api_key_create(
        actor=user, name="Demo key", expires_at=None, scopes=scopes
    )
    kept.saved[name] = token
    return token


def demo_part_attach(customer: User, job: Job) -> None:
    """Attach the demo part's design file to the customer's draft `job`, encrypted as an upload."""
    with DEMO_PART.open("rb") as handle:
        upload = encrypt_chunks(DEMO_PART.name, iter(lambda: handle.read(1 << 20), b""))
    services.design_file_attach(actor=customer, job=job, upload=upload)


def shop_folder(shop: DemoShop) -> Path:
    """The folder the walk-through runs `shop`'s CLI from: var/demo-shops/<its name>/."""
    return Path(settings.VAR_DIR) / SHOP_FOLDERS / slugify(shop.name)


def shop_folder_write(shop: DemoShop, *, url: str, token: str, passphrase: str) -> Path:
    """`shop`'s CLI folder: its API key and its keys' passphrase (0600: a real shop types the
    passphrase, or keeps it elsewhere), and an `env` file that points the CLI at them and at
    PrintFair. The keys themselves are the CLI's to make there (`printfair keys init`)."""
    folder = shop_folder(shop)
    write_private(folder / "api-key", token + "\n", replace=True)
    write_private(folder / "passphrase", passphrase + "\n", replace=True)
    home = folder.resolve()
    lines = [
        f"# The printfair CLI as {shop.name}, for the demo: `. {folder}/env` (README.md).",
        f"export PRINTFAIR_API={shlex.quote(url)}",
        f"export PRINTFAIR_HOME={shlex.quote(str(home))}",
        f"export PRINTFAIR_API_KEY_FILE={shlex.quote(str(home / 'api-key'))}",
        f"export PRINTFAIR_PASSPHRASE_FILE={shlex.quote(str(home / 'passphrase'))}",
    ]
    write_private(folder / "env", "\n".join(lines) + "\n", replace=True)
    return folder


def _minutes(text: str) -> int:
    """A window's length in whole minutes, 1 to a week."""
    try:
        minutes = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of minutes") from None
    if not 1 <= minutes <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"{minutes} minutes: choose from 1 to 10080 (a week)")
    return minutes


class Command(BaseCommand):
    help = "Create the demo accounts, shops, API keys and a sample job (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port",
            type=int,
            help="the site's port, in the printed URLs and the shops' folders (default: the "
            "one the demo was last seeded with, as `make run` gives it; else 8000)",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="open a fresh demo auction now (a new job with the demo part), even if one is "
            "still open: for a newcomer who missed the last one's bidding",
        )
        parser.add_argument(
            "--bidding-minutes",
            type=_minutes,
            default=DEMO_BIDDING_MINUTES,
            help=f"how long a new demo auction takes bids (default {DEMO_BIDDING_MINUTES})",
        )
        parser.add_argument(
            "--reveal-minutes",
            type=_minutes,
            default=DEMO_REVEAL_MINUTES,
            help="how long its bids can be revealed after bidding closes "
            f"(default {DEMO_REVEAL_MINUTES})",
        )

    def handle(
        self,
        *args: Any,
        port: int | None = None,
        restart: bool = False,
        bidding_minutes: int = DEMO_BIDDING_MINUTES,
        reveal_minutes: int = DEMO_REVEAL_MINUTES,
        **options: Any,
    ) -> None:
        kept = DemoSecrets()
        # (a second seed, from README's walk-through, keeps the port `PORT=8080 make run` gave)
        port = port or int(kept.saved.get("port", 8000))
        kept.saved["port"] = str(port)
        url = f"http://127.0.0.1:{port}/"

        def password(email: str) -> str:
            return kept.keep("password:" + email, lambda: secrets.token_urlsafe(12))

        with transaction.atomic():
            admin = self._admin(password(ADMIN))
            customer = self._user(
                CUSTOMER,
                "Casey Customer",
                "Acme Drones Ltd",
                Organization.Kind.CUSTOMER,
                password(CUSTOMER),
            )
            tokens = {}
            for shop in SHOPS:
                user = self._user(
                    shop.email,
                    shop.person,
                    shop.name,
                    Organization.Kind.PRINT_SHOP,
                    password(shop.email),
                )
                shop_services.shop_profile_update(actor=user, capabilities=shop.capabilities)
                profile = PrintShopProfile.objects.get(organization__memberships__user=user)
                shop_services.shop_verify(actor=admin, profile=profile)
                tokens[shop.email] = api_key_kept(user, kept)
            job = self._job(
                customer,
                fresh=restart,
                bidding=timedelta(minutes=bidding_minutes),
                revealing=timedelta(minutes=reveal_minutes),
            )
        # The print farm's CLI lives with its printer (machines/demo/), under its own keys.
        folders = [
            shop_folder_write(
                shop,
                url=url,
                token=tokens[shop.email],
                passphrase=kept.keep("passphrase:" + shop.email, lambda: secrets.token_urlsafe(16)),
            )
            for shop in SHOPS
            if shop.email != PRINT_FARM
        ]
        kept.save()

        out = self.stdout.write
        out(self.style.SUCCESS("\nPrintFair demo is ready.\n"))
        out(f"  Site        {url}")
        out(f"  API docs    {url}api/docs/")
        out(f"  Admin       {url}admin/   {ADMIN} / {kept['password:' + ADMIN]}")
        out(f"  Customer    {CUSTOMER} / {kept['password:' + CUSTOMER]}")
        for shop in SHOPS:
            out(f"  Print shop  {shop.email} / {kept['password:' + shop.email]}  ({shop.name})")
            out(f"              API key {tokens[shop.email]}")
        first = tokens[SHOPS[0].email]
        out(f"\n  Try:  curl -H 'Authorization: Bearer {first}' {url}api/v1/jobs/")
        local = timezone.localtime
        out(
            f"\n  The demo job is #{job.pk}: it closes for bids at "
            f"{local(job.commit_deadline):%H:%M %Z} and for reveals at "
            f"{local(job.reveal_deadline):%H:%M %Z}."
        )
        out(f"    JOB={job.pk}")
        out("  The shops' printfair CLI, one folder each (`. FOLDER/env` points it there):")
        for folder in folders:
            out(f"    {folder}")
        out(
            "  README.md's walk-through takes it from here to a verified certificate in about "
            "10 minutes;\n  `.venv/bin/python manage.py seed_demo --restart --bidding-minutes 3 "
            "--reveal-minutes 1`\n  opens the short auction it follows. (docs/cli.md has the "
            "whole CLI.)\n"
        )

    def _admin(self, password: str) -> User:
        admin = User.objects.filter(email=ADMIN).first()
        if admin is None:
            admin = User.objects.create_superuser(email=ADMIN, password=password, name="Ada Admin")
        return admin

    def _user(self, email: str, name: str, org: str, kind: str, password: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.user_sign_up(
                email=email, password=password, name=name, organization_name=org, kind=kind
            )
        return user

    def _job(self, customer: User, *, fresh: bool, bidding: timedelta, revealing: timedelta) -> Job:
        """The demo job still open for bids (the latest), or a new one published with the demo
        part when none is or a `fresh` one is asked for, open for `bidding` and then
        `revealing`."""
        now = timezone.now()
        still_open = (
            Job.objects.filter(
                organization=customer.organization, status=Job.Status.OPEN, commit_deadline__gt=now
            )
            .order_by("-commit_deadline")
            .first()
        )
        if still_open is not None and not fresh:
            return still_open
        job = services.job_create(
            actor=customer,
            spec=services.JobSpec(
                title="Rear case for the X4 survey drone",
                description="Flight-controller enclosure. Snap fits must close without tools.",
                process=Process.SLS,
                material=Material.PA12,
                # A small run, so a whole production can be reported by hand in the demo.
                quantity=4,
                spares=1,
                tolerance_mm=Decimal("0.150"),
                finish=Finish.DYED,
                required_certifications=[Certification.ISO_9001],
                required_characteristics=["Mounting hole diameter", "Overall length"],
                needed_by=(now + timedelta(days=21)).date(),
                reserve_price=Decimal("2400"),
                # Short enough to watch a whole auction in one sitting.
                commit_deadline=now + bidding,
                reveal_deadline=now + bidding + revealing,
                pricing_rule=Job.PricingRule.SECOND_PRICE,
            ),
        )
        demo_part_attach(customer, job)
        return services.job_publish(actor=customer, job=job)
