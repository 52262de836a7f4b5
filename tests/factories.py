"""factory_boy factories for the fixed cast and their data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from marketplace.catalog import Finish, Material, Process
from marketplace.models import Job, Membership, Organization, User
from printshops.models import PrintShopProfile

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
