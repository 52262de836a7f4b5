"""Every model is in the admin, and its list, search and detail pages work for an operator."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from marketplace.models import AuditEvent, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from printshops.models import ApiKey, PrintShopProfile
from printshops.services import api_key_create
from tests import factories

OURS = ("marketplace", "printshops", "ledger")


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
