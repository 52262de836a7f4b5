from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.errors import DomainError
from marketplace import services
from marketplace.catalog import Material, Process
from marketplace.models import AuditEvent, Job, User
from printshops.models import Bid
from tests import factories


def spec(**changes: object) -> services.JobSpec:
    now = timezone.now()
    base = services.JobSpec(
        title="Drone arm",
        description="",
        process=Process.MJF,
        material=Material.PA12,
        quantity=20,
        spares=2,
        tolerance_mm=Decimal("0.2"),
        finish="as_printed",
        required_certifications=["iso_9001"],
        needed_by=(now + timedelta(days=20)).date(),
        reserve_price=Decimal("900"),
        commit_deadline=now + timedelta(days=1),
        reveal_deadline=now + timedelta(days=2),
        pricing_rule=Job.PricingRule.SECOND_PRICE,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_job_create_stores_every_field_and_audits(customer: User) -> None:
    # when
    job = services.job_create(actor=customer, spec=spec())
    # then
    assert job.status == Job.Status.DRAFT
    assert job.organization == customer.organization
    assert job.required_certifications == ["iso_9001"]
    assert job.pricing_rule == Job.PricingRule.SECOND_PRICE
    assert AuditEvent.objects.filter(
        verb="job.created", target_id=str(job.pk), actor=customer
    ).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"spares": -1}, "spares"),
        ({"reserve_price": Decimal("0")}, "reserve_price"),
        ({"tolerance_mm": Decimal("0")}, "tolerance_mm"),
        ({"process": Process.SLA, "material": Material.PA12}, "material"),
        ({"process": "laser_cutting"}, "process"),
        ({"required_certifications": ["made_up"]}, "required_certifications"),
        ({"pricing_rule": "dutch"}, "pricing_rule"),
        ({"title": "  "}, "title"),
    ],
)
def test_job_create_refuses_invalid_fields(
    customer: User, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(DomainError) as caught:
        services.job_create(actor=customer, spec=spec(**changes))
    assert field in caught.value.fields
    assert not Job.objects.exists()


def test_deadlines_must_be_in_order_and_in_the_future(customer: User) -> None:
    now = timezone.now()
    with pytest.raises(DomainError) as past:
        services.job_create(actor=customer, spec=spec(commit_deadline=now - timedelta(minutes=1)))
    assert "commit_deadline" in past.value.fields
    with pytest.raises(DomainError) as reveal:
        services.job_create(actor=customer, spec=spec(reveal_deadline=now + timedelta(hours=12)))
    assert reveal.value.fields["reveal_deadline"] == [
        "The reveal deadline must come after the bidding deadline."
    ]
    with pytest.raises(DomainError) as delivery:
        services.job_create(actor=customer, spec=spec(needed_by=(now + timedelta(days=1)).date()))
    assert "needed_by" in delivery.value.fields


def test_print_shops_cannot_post_jobs(winning_shop: User) -> None:
    with pytest.raises(DomainError) as caught:
        services.job_create(actor=winning_shop, spec=spec())
    assert caught.value.status == 403


def test_job_update_only_while_draft(customer: User) -> None:
    job = factories.JobFactory.create(created_by=customer)
    services.job_update(actor=customer, job=job, spec=spec(title="Renamed"))
    job.refresh_from_db()
    assert job.title == "Renamed"
    Job.objects.filter(pk=job.pk).update(status=Job.Status.OPEN)
    with pytest.raises(DomainError, match="Only draft jobs can be edited"):
        services.job_update(actor=customer, job=job, spec=spec(title="Again"))


def test_publish_needs_a_design_file(customer: User) -> None:
    job = factories.JobFactory.create(created_by=customer)
    with pytest.raises(DomainError, match="Attach at least one design file"):
        services.job_publish(actor=customer, job=job)


def test_publish_refuses_a_draft_whose_deadline_passed(customer: User, testdata: object) -> None:
    from marketplace.uploads import encrypt_chunks

    job = factories.JobFactory.create(created_by=customer)
    services.design_file_attach(
        actor=customer,
        job=job,
        upload=encrypt_chunks("cube.stl", [(testdata / "stl" / "cube_binary.stl").read_bytes()]),  # type: ignore[operator]
    )
    Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now() - timedelta(minutes=1))
    with pytest.raises(DomainError, match="Edit the job before publishing"):
        services.job_publish(actor=customer, job=job)
    Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now() + timedelta(hours=1))
    job = services.job_publish(actor=customer, job=job)
    assert job.status == Job.Status.OPEN
    assert job.published_at is not None
    with pytest.raises(DomainError, match="Only draft jobs can be published"):
        services.job_publish(actor=customer, job=job)


def test_cancel_from_draft_or_open_only(customer: User) -> None:
    job = factories.JobFactory.create(created_by=customer)
    job = services.job_cancel(actor=customer, job=job)
    assert job.status == Job.Status.CANCELLED
    with pytest.raises(DomainError, match="cannot be cancelled"):
        services.job_cancel(actor=customer, job=job)


def test_an_open_job_with_bids_cannot_be_cancelled(
    customer: User, winning_shop: User, login: Callable[[User | None], Client]
) -> None:
    job = factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN)
    page = reverse("job_detail", args=[job.pk])
    assert "Cancel job" in login(customer).get(page).content.decode()
    shop = winning_shop.organization
    assert shop is not None
    Bid.objects.create(
        job=job,
        organization=shop,
        shop_address="0x" + "11" * 20,
        commitment="0x" + "22" * 32,
        version=1,
        signature=b"",
    )
    with pytest.raises(DomainError, match="Shops have bid on this job") as refused:
        services.job_cancel(actor=customer, job=job)
    assert refused.value.code == "has_bids"
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert "Cancel job" not in login(customer).get(page).content.decode()


def test_sign_up_creates_an_owned_organisation(db: None) -> None:
    user = services.user_sign_up(
        email="New@Example.com",
        password="a long passphrase",
        name="Nia",
        organization_name="Nia Prints",
        kind="print_shop",
    )
    assert user.email == "new@example.com"
    assert user.organization is not None and user.organization.is_print_shop
    assert user.organization.shop_profile.is_verified is False
    with pytest.raises(DomainError) as caught:
        services.user_sign_up(
            email="new@EXAMPLE.com",
            password="x",
            name="Again",
            organization_name="X",
            kind="customer",
        )
    assert "email" in caught.value.fields
