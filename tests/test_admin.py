"""Every model is in the admin, and its list, search and detail pages work for an operator."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from marketplace.models import AuditEvent, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from printshops.models import ApiKey, PrintShopProfile
from printshops.services import api_key_create
from tests import factories

OURS = ("marketplace", "printshops", "ledger", "machines")


def test_every_model_is_registered() -> None:
    models = [m for m in apps.get_models() if m._meta.app_label in OURS]
    assert models
    assert [m for m in models if m not in admin.site._registry] == []


@pytest.fixture
def populated(customer: User, winning_shop: User, stranger: User, testdata: Any) -> None:
    job = factories.JobFactory.create(created_by=customer)
    upload = encrypt_chunks("star.stl", [(testdata / "stl" / "star_binary.stl").read_bytes()])
    design_file_attach(actor=customer, job=job, upload=upload)
    api_key_create(actor=winning_shop, name="floor", expires_at=None)


@pytest.mark.usefixtures("populated")
def test_admin_pages_load(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OURS:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        assert client.get(changelist).status_code == 200, changelist
        assert client.get(changelist, {"q": "a"}).status_code == 200, changelist
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
            assert client.get(change).status_code == 200, change
        if model_admin.has_add_permission(client.get(changelist).wsgi_request):
            assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200


def test_verify_shop_and_revoke_key_actions(admin_user: User, stranger: User) -> None:
    client = Client()
    client.force_login(admin_user)
    profile = PrintShopProfile.objects.get(organization=stranger.organization)
    client.post(
        reverse("admin:printshops_printshopprofile_changelist"),
        {"action": "verify", "_selected_action": [profile.pk]},
    )
    profile.refresh_from_db()
    assert profile.is_verified and profile.verified_by == admin_user
    key, _ = api_key_create(actor=stranger, name="k", expires_at=None)
    client.post(
        reverse("admin:printshops_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"
    assert AuditEvent.objects.filter(verb="shop.verified", actor=admin_user).exists()


# --- queries per page ----------------------------------------------------------------------------


def changelist_queries(client: Client, model: Any, model_admin: Any, per_page: int) -> int:
    """How many SQL statements the model's changelist takes with `per_page` rows to a page."""
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    before, model_admin.list_per_page = model_admin.list_per_page, per_page
    try:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200, url
    finally:
        model_admin.list_per_page = before
    return len(queries)


def test_every_changelist_takes_as_many_queries_for_a_page_as_for_one_row(
    world: dict[str, Any], admin_user: User
) -> None:
    """A column that reads a related row the list did not join costs a query per row (the audit
    log took 210 for 100 events). Every changelist with rows enough in the access matrix's world
    is counted with one row to a page and with all of its rows."""
    client = Client()
    client.force_login(admin_user)
    counted, grows = [], []
    for model, model_admin in admin.site._registry.items():
        rows = model._default_manager.count()
        if model._meta.app_label not in OURS or rows < 2:
            continue
        one = changelist_queries(client, model, model_admin, 1)
        page = changelist_queries(client, model, model_admin, 100)
        counted.append(model.__name__)
        if page != one:
            grows.append(f"{model.__name__}: {one} queries for 1 row, {page} for {min(rows, 100)}")
    assert len(counted) >= 20, counted
    assert grows == [], "\n".join(grows)


def test_the_audit_log_takes_as_many_queries_for_100_events_as_for_10(
    customer: User, admin_user: User
) -> None:
    client = Client()
    client.force_login(admin_user)
    model_admin = admin.site._registry[AuditEvent]
    counts = []
    for total in (10, 100):
        AuditEvent.objects.bulk_create(
            AuditEvent(
                actor=customer,
                organization=customer.organization,
                verb="job.created",
                target_type="job",
                target_id=str(n),
            )
            for n in range(total - AuditEvent.objects.count())
        )
        assert AuditEvent.objects.count() == total
        counts.append(changelist_queries(client, AuditEvent, model_admin, 100))
    assert counts[0] == counts[1], counts
