from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.models import User
from printshops.models import ApiKey

Login = Callable[[User | None], Client]


def test_create_a_key_shown_once_then_revoke(winning_shop: User, login: Login) -> None:
    client = login(winning_shop)
    response = client.post(reverse("api_keys"), {"name": "MES connector", "expires_at": ""})
    page = response.content.decode()
    token = re.search(r'value="(pf_[0-9a-f]{12}_[\w-]+)"', page)
    assert token, "the new token is shown"
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token.group(1)}")
    assert api.get(reverse("api_job_list")).status_code == 200
    assert token.group(1) not in client.get(reverse("api_keys")).content.decode(), "shown only once"
    key = ApiKey.objects.get(name="MES connector")
    client.post(reverse("api_key_revoke", args=[key.pk]))
    assert api.get(reverse("api_job_list")).status_code == 401


def test_expiry_in_the_past_is_refused(winning_shop: User, login: Login) -> None:
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = login(winning_shop).post(reverse("api_keys"), {"name": "old", "expires_at": past})
    assert "The expiry must be in the future." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_profile_capabilities(winning_shop: User, login: Login) -> None:
    response = login(winning_shop).post(
        reverse("shop_profile"),
        {
            "description": "We print.",
            "website": "https://layers.example",
            "country": "DE",
            "city": "Berlin",
            "processes": ["dmls"],
            "materials": ["ti6al4v"],
            "certifications": ["as9100"],
            "build_x_mm": "250",
            "build_y_mm": "250",
            "build_z_mm": "325",
        },
    )
    assert response.status_code == 302
    profile = winning_shop.organization.shop_profile  # type: ignore[union-attr]
    profile.refresh_from_db()
    assert (
        profile.processes == ["dmls"]
        and profile.build_z_mm == 325
        and profile.certifications == ["as9100"]
    )


def test_unverified_shop_sees_no_jobs(stranger: User, login: Login) -> None:
    page = login(stranger).get(reverse("shop_open_jobs")).content.decode()
    assert "not verified" in page
