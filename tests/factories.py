"""factory_boy factories for the fixed cast and their data."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from ledger.models import ChainEvent
from machines.models import Machine, MachineEvent, MachineKey
from marketplace.catalog import Finish, Material, Process
from marketplace.models import Job, Membership, Order, Organization, User
from marketplace.money import SETTLEMENT_DECIMALS
from printfair.canonical import record_hash
from printshops.models import Bid, PrintShopProfile

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Company {n}")
    kind = Organization.Kind.CUSTOMER


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.OWNER


def customer(email: str, company: str) -> User:
    membership = MembershipFactory.create(user__email=email, organization__name=company)
    return membership.user


def print_shop(email: str, company: str, *, verified: bool = True) -> User:
    membership = MembershipFactory.create(
        user__email=email,
        organization__name=company,
        organization__kind=Organization.Kind.PRINT_SHOP,
    )
    PrintShopProfile.objects.create(
        organization=membership.organization,
        processes=[Process.FDM, Process.SLS, Process.MJF],
        materials=[Material.PLA, Material.PA12],
        build_x_mm=300,
        build_y_mm=300,
        build_z_mm=300,
        verified_at=timezone.now() if verified else None,
    )
    return membership.user


class JobFactory(factory.django.DjangoModelFactory[Job]):
    class Meta:
        model = Job

    organization = factory.LazyAttribute(lambda o: o.created_by.organization)
    created_by = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Bracket {n}")
    description = "A test part."
    process = Process.SLS
    material = Material.PA12
    quantity = 10
    spares = 1
    tolerance_mm = Decimal("0.200")
    finish = Finish.AS_PRINTED
    required_certifications: list[str] = []
    needed_by = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=30)).date())
    reserve_price = Decimal("500")
    commit_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    reveal_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    pricing_rule = Job.PricingRule.FIRST_PRICE


def machine(shop: User, serial: str = "SN-1") -> Machine:
    """A machine of the shop's with an active key, made in the database (not on chain)."""
    organization = shop.organization
    assert organization is not None
    made = Machine.objects.create(
        operator=organization, owner=organization, make="Prusa", model="MK4", process=Process.FDM,
        build_x_mm=250, build_y_mm=210, build_z_mm=220, serial=serial,
    )  # fmt: skip
    MachineKey.objects.create(
        machine=made, address=f"0x{made.pk:040x}", status=MachineKey.Status.ACTIVE,
        first_sequence=1, approved_at=timezone.now(),
    )  # fmt: skip
    return made


def machine_events(
    machine: Machine, *events: tuple[str, dict[str, Any], datetime | None]
) -> list[MachineEvent]:
    """The machine's next events (kind, data, and when: now if None) stored as applying them
    would store them, with their real data hash but no signature: what reads the events as
    data (the machine's page) does not check signatures, and signing is tested where events
    are applied (tests/machines/test_machines.py)."""
    key = machine.keys.get(status=MachineKey.Status.ACTIVE)
    rows = []
    for number, (kind, data, at) in enumerate(events, start=machine.last_sequence + 1):
        when = at or timezone.now()
        row = MachineEvent(
            machine=machine, key=key, sequence=number, kind=kind, occurred_at=when,
            occurred_at_ms=int(when.timestamp() * 1000), data=data,
            data_hash="0x" + record_hash(data).hex(), signature="0x" + "00" * 65,
        )  # fmt: skip
        rows.append(row)
    MachineEvent.objects.bulk_create(rows)
    machine.last_sequence += len(rows)
    machine.save(update_fields=["last_sequence"])
    return rows


_log_index = itertools.count()


def bid(job: Job, shop: Organization, *, price: int | None = None) -> Bid:
    """The shop's bid on the job, made in the database (not on chain): sealed, or revealed at
    `price` and ten days."""
    return Bid.objects.create(
        job=job, organization=shop, shop_address="0x" + "b" * 40, commitment="0x" + "c" * 64,
        version=1, signature=b"", price=price, lead_time_days=None if price is None else 10,
        status=Bid.Status.COMMITTED if price is None else Bid.Status.REVEALED,
    )  # fmt: skip


def auction_end(
    customer: User, shops: dict[str, Organization], end: tuple[str | None, ...], title: str
) -> Job:
    """A job of `customer` that came to `end`, made in the database (not on chain): (the job's
    status, its order's status or None, the order's shop and the shop whose award expired before
    it passed on, by their names in `shops`). Shop "A" bid 400 USD, any other 450, revealed once
    bidding closed."""
    status, order_status, order_shop, expired_shop = end[:4]
    job = JobFactory.create(created_by=customer, status=status, title=title)
    for name, shop in shops.items():
        price = (400 if name == "A" else 450) * 10**SETTLEMENT_DECIMALS
        bid(job, shop, price=None if status == Job.Status.OPEN else price)
    if order_status is not None:
        award = ChainEvent.objects.create(
            chain_id=31337, block_number=1, block_hash="0x" + "1" * 64, log_index=next(_log_index),
            tx_hash="0x" + "2" * 64, contract="AuctionHouse", address="0x" + "a" * 40,
            name="AuctionFinalized", args={"jobId": job.pk}, applied=True,
        )  # fmt: skip
        Order.objects.create(
            job=job, shop=shops[order_shop or "A"], shop_address="0x" + "b" * 40,
            price=400 * 10**SETTLEMENT_DECIMALS,
            lead_time_days=10, status=order_status, award_event=award,
            expired_shop=shops[expired_shop] if expired_shop else None,
        )  # fmt: skip
    return job
