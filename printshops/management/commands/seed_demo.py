"""Seed the demo that `make run` shows: an admin, a customer with a published job and its design
file, and three verified print shops with API keys (the third, a desktop print farm, runs the
demo's printer under `make run DEMO_PRINTER=1`: machines/demo/). Safe to run again: it only adds
what is missing, and `--restart` opens a fresh demo auction. Passwords and the API key tokens
are generated once and kept in var/secrets/ (never committed)."""

from __future__ import annotations

import json
import secrets
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

from marketplace import services
from marketplace.catalog import Certification, Finish, Material, Process
from marketplace.models import Job, Organization, User
from marketplace.uploads import encrypt_chunks
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


class Command(BaseCommand):
    help = "Create the demo accounts, shops, API keys and a sample job (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8000, help="Port shown in the printed URL")
        parser.add_argument(
            "--restart",
            action="store_true",
            help="open a fresh demo auction now (a new job with the demo part), even if one is "
            "still open: for a newcomer who missed the last one's bidding",
        )

    def handle(self, *args: Any, port: int, restart: bool = False, **options: Any) -> None:
        kept = DemoSecrets()

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
            job = self._job(customer, fresh=restart)
        kept.save()

        url = f"http://127.0.0.1:{port}/"
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
            f"\n  A whole auction: the demo job (#{job.pk}) closes for bids at "
            f"{local(job.commit_deadline):%H:%M %Z} and for reveals at "
            f"{local(job.reveal_deadline):%H:%M %Z}. Missed it? `.venv/bin/python manage.py "
            "seed_demo --restart`\n  opens a fresh one. For each shop, in its own folder:"
        )
        out(f"    export PRINTFAIR_API={url} PRINTFAIR_HOME=./shop-a PRINTFAIR_API_KEY={first}")
        out("    .venv/bin/printfair keys init && .venv/bin/printfair keys register")
        out("    .venv/bin/printfair jobs list")
        out("    .venv/bin/printfair bid JOB --price 1900 --lead-days 9")
        out("    .venv/bin/printfair reveal --all      # once bidding has closed")
        out(
            "  The auction finalizes by itself; the customer tops up its wallet (organisation "
            "page) and\n  funds the escrow on the job page. The winner then gets the design "
            "and prints under its licence:"
        )
        out("    .venv/bin/printfair design get JOB -o ./design")
        out("    for n in 1 2 3 4; do")
        out("      .venv/bin/printfair print-ticket JOB --machine 'EOS P396 #2' --serial X4-00$n")
        out(
            "      .venv/bin/printfair report event JOB X4-00$n print_started "
            "--machine 'EOS P396 #2' --material-lot PA12-2291"
        )
        out(
            "      .venv/bin/printfair report event JOB X4-00$n print_finished "
            "--machine 'EOS P396 #2' --material-lot PA12-2291 --outcome completed"
        )
        out("    done")
        out(f"    .venv/bin/printfair report csv JOB {DEMO_MEASUREMENTS}")
        out(
            "    for n in 1 2 3 4; do .venv/bin/printfair report event JOB X4-00$n shipped "
            "--carrier DHL --tracking-number JD01460000$n; done"
        )
        out(
            "    .venv/bin/printfair records JOB   # the quality gate is met once anchors are final"
        )
        out(
            "  The customer watches the timeline on the job page. The winner runs "
            "`printfair deliver JOB`;\n  the customer accepts and downloads each part's "
            "certificate (PDF with a QR code to its public\n  verification page; "
            f"`printfair verify ID --rpc {settings.CHAIN_PUBLIC_RPC_URL}` checks it without "
            "PrintFair);\n  the winner runs `printfair withdraw`. (docs/cli.md)\n"
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

    def _job(self, customer: User, *, fresh: bool) -> Job:
        """The demo job still open for bids (the latest), or a new one published with the demo
        part when none is or a `fresh` one is asked for."""
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
                commit_deadline=now + timedelta(minutes=DEMO_BIDDING_MINUTES),
                reveal_deadline=now + timedelta(minutes=DEMO_BIDDING_MINUTES + DEMO_REVEAL_MINUTES),
                pricing_rule=Job.PricingRule.SECOND_PRICE,
            ),
        )
        demo_part_attach(customer, job)
        return services.job_publish(actor=customer, job=job)
