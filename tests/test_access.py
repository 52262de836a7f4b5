"""The access matrix: every route, every member of the fixed cast (STYLE.md rule 11).
A route that is not in the matrix fails the test, so new routes must declare who may use them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from marketplace.models import DesignFile, Job, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from printshops.services import api_key_create
from tests import factories

CAST = ["anonymous", "customer", "other_customer", "winning_shop", "stranger", "admin"]
LOGIN = 302  # anonymous users are sent to the login page
HOME = 302  # members of the wrong kind of organisation are sent to their dashboard

# route name: (method, expected status per member of the cast, in CAST order)
MATRIX: dict[str, tuple[str, list[int]]] = {
    "home": ("get", [200, 302, 302, 302, 302, 302]),
    # Public; 404 here: the world's design is not registered on a chain.
    "design_proof": ("get", [404, 404, 404, 404, 404, 404]),
    "signup": ("get", [200, 302, 302, 302, 302, 302]),
    # 404: nobody's sign-up link; signed-in members are sent to their dashboard.
    "signup_confirm": ("get", [404, 302, 302, 302, 302, 302]),
    # Django's password reset pages are open to everyone; 200 for a bad link says it is bad.
    "password_reset": ("get", [200, 200, 200, 200, 200, 200]),
    "password_reset_done": ("get", [200, 200, 200, 200, 200, 200]),
    "password_reset_confirm": ("get", [200, 200, 200, 200, 200, 200]),
    "password_reset_complete": ("get", [200, 200, 200, 200, 200, 200]),
    "login": ("get", [200, 302, 302, 302, 302, 302]),
    "logout": ("post", [302, 302, 302, 302, 302, 302]),
    "dashboard": ("get", [LOGIN, 302, 302, 302, 302, 200]),
    "organization": ("get", [LOGIN, 200, 200, 200, 200, 200]),
    "job_list": ("get", [LOGIN, 200, 200, HOME, HOME, HOME]),
    "job_create": ("get", [LOGIN, 200, 200, HOME, HOME, HOME]),
    "job_detail": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "job_edit": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "job_order_panel": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "order_fund": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "order_accept": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "order_dispute": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "order_claim_refund": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    # Only customers have wallets; anyone else is told so and sent back to the page.
    "wallet_faucet": ("post", [LOGIN, 302, 302, 302, 302, 302]),
    "wallet_withdraw": ("post", [LOGIN, 302, 302, 302, 302, 302]),
    "wallet_register_own": ("post", [LOGIN, 302, 302, 302, 302, 302]),
    "job_publish": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "job_cancel": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "design_file_upload": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "design_file_table": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "design_file_download": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "design_file_delete": ("post", [LOGIN, 302, 404, 404, 404, 404]),
    "shop_profile": ("get", [LOGIN, HOME, HOME, 200, 200, HOME]),
    "api_keys": ("get", [LOGIN, HOME, HOME, 200, 200, HOME]),
    "api_key_revoke": ("post", [LOGIN, HOME, HOME, 302, 404, HOME]),
    "shop_open_jobs": ("get", [LOGIN, HOME, HOME, 200, 200, HOME]),
    "shop_orders": ("get", [LOGIN, HOME, HOME, 200, 200, HOME]),
    # 404 for the winning shop too: the world's job has no order.
    "shop_order_detail": ("get", [LOGIN, HOME, HOME, 404, 404, HOME]),
    "shop_order_timeline": ("get", [LOGIN, HOME, HOME, 404, 404, HOME]),
    # The API authenticates with shop API keys only (sessions do not count there).
    "api_job_list": ("get", [401, 401, 401, 200, 403, 401]),
    "api_job_detail": ("get", [401, 401, 401, 200, 403, 401]),
    "api_job_bids": ("get", [401, 401, 401, 200, 403, 401]),
    "api_job_bid_reveal": ("post", [401, 401, 401, 400, 403, 401]),  # 400: no body
    "api_bids": ("get", [401, 401, 401, 200, 403, 401]),
    "api_chain": ("get", [200, 200, 200, 200, 200, 200]),
    "api_releases": ("get", [401, 401, 401, 200, 403, 401]),
    "api_release_ciphertext": ("get", [401, 401, 401, 404, 403, 401]),  # 404: not released
    "api_job_tickets": ("get", [401, 401, 401, 200, 403, 401]),
    "api_orders": ("get", [401, 401, 401, 200, 403, 401]),
    "api_order_delivered": ("post", [401, 401, 401, 404, 403, 401]),  # 404: not its order
    "api_payouts": ("get", [401, 401, 401, 409, 403, 401]),  # 409: no key registered
    "api_payout_withdraw": ("post", [401, 401, 401, 400, 403, 401]),  # 400: no body
    # Unverified shops register their keys too: verification comes after.
    "api_shop_keys": ("get", [401, 401, 401, 200, 200, 401]),
    "api_shop_key_challenge": ("post", [401, 401, 401, 201, 201, 401]),
    "api_job_evidence": ("post", [401, 401, 401, 400, 403, 401]),  # 400: no body
    "api_job_events": ("post", [401, 401, 401, 400, 403, 401]),  # 400: no body
    "api_job_quality": ("post", [401, 401, 401, 400, 403, 401]),  # 400: no body
    "api_job_quality_batch": ("post", [401, 401, 401, 400, 403, 401]),
    "api_job_records": ("get", [401, 401, 401, 404, 403, 401]),  # 404: not its order
    "api_job_quality_gate": ("get", [401, 401, 401, 404, 403, 401]),  # 404: not its order
    "job_production_timeline": ("get", [LOGIN, 200, 404, 404, 404, 404]),
    "evidence_download": ("get", [LOGIN, 404, 404, 404, 404, 404]),  # no such file
    "certificate_detail": ("get", [LOGIN, 404, 404, 404, 404, 404]),  # no such certificate
    "certificate_download": ("get", [LOGIN, 404, 404, 404, 404, 404]),
    # Public (the id is the capability); 404 for an id nobody has.
    "verify_record": ("get", [404, 404, 404, 404, 404, 404]),
    "verify_check": ("get", [404, 404, 404, 404, 404, 404]),
    "verify_proof": ("get", [404, 404, 404, 404, 404, 404]),
    "shop_public_profile": ("get", [200, 200, 200, 200, 200, 200]),
    "schema": ("get", [200, 200, 200, 200, 200, 200]),
    "api_docs": ("get", [200, 200, 200, 200, 200, 200]),
}
NOT_OURS = {"admin", "djdt"}
NOBODYS_ID = uuid.UUID("00000000-0000-4000-8000-000000000000")


def route_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace not in NOT_OURS:
                    walk(pattern.url_patterns, pattern.namespace)
            elif isinstance(pattern, URLPattern) and pattern.name and namespace is None:
                names.add(pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


def test_every_route_is_in_the_matrix() -> None:
    assert route_names() == set(MATRIX)


@pytest.fixture
def world(
    customer: User,
    other_customer: User,
    winning_shop: User,
    stranger: User,
    admin_user: User,
    testdata: Any,
) -> dict[str, Any]:
    job = factories.JobFactory.create(created_by=customer)
    design_file = design_file_attach(
        actor=customer,
        job=job,
        upload=encrypt_chunks("star.stl", [(testdata / "stl" / "star_binary.stl").read_bytes()]),
    )
    Job.objects.filter(pk=job.pk).update(status=Job.Status.OPEN)
    key, _ = api_key_create(actor=winning_shop, name="k", expires_at=None)
    return {
        "users": {
            "anonymous": None,
            "customer": customer,
            "other_customer": other_customer,
            "winning_shop": winning_shop,
            "stranger": stranger,
            "admin": admin_user,
        },
        "job": job,
        "file": design_file,
        "key": key,
    }


def url_for(name: str, world: dict[str, Any]) -> str:
    job: Job = world["job"]
    design_file: DesignFile = world["file"]
    args: dict[str, list[Any]] = {
        "job_detail": [job.pk],
        "job_edit": [job.pk],
        "job_publish": [job.pk],
        "job_cancel": [job.pk],
        "design_file_upload": [job.pk],
        "design_file_table": [job.pk],
        "design_file_download": [job.pk, design_file.pk],
        "design_file_delete": [job.pk, design_file.pk],
        "api_key_revoke": [world["key"].pk],
        "api_job_detail": [job.pk],
        "api_job_bids": [job.pk],
        "api_job_bid_reveal": [job.pk],
        "job_order_panel": [job.pk],
        "order_fund": [job.pk],
        "order_accept": [job.pk],
        "order_dispute": [job.pk],
        "order_claim_refund": [job.pk],
        "api_order_delivered": [job.pk],
        "design_proof": [design_file.sha256],
        "api_release_ciphertext": [design_file.pk],
        "api_job_tickets": [job.pk],
        "api_job_evidence": [job.pk],
        "api_job_events": [job.pk],
        "api_job_quality": [job.pk],
        "api_job_quality_batch": [job.pk],
        "api_job_records": [job.pk],
        "api_job_quality_gate": [job.pk],
        "job_production_timeline": [job.pk],
        "shop_order_detail": [job.pk],
        "shop_order_timeline": [job.pk],
        "evidence_download": [job.pk, NOBODYS_ID],
        "certificate_detail": [job.pk, NOBODYS_ID],
        "certificate_download": [job.pk, NOBODYS_ID],
        "verify_record": [NOBODYS_ID],
        "verify_check": [NOBODYS_ID],
        "verify_proof": [NOBODYS_ID],
        "shop_public_profile": [world["users"]["winning_shop"].organization.pk],
        "signup_confirm": ["nobodys-token"],
        "password_reset_confirm": ["MQ", "nobodys-token"],
    }
    return reverse(name, args=args.get(name, []))


def body_for(url: str, method: str) -> dict[str, str]:
    """An empty body of the media type the view reads: the API's JSON operations take nothing
    else (415), and the client's default is a multipart form."""
    view_class = getattr(resolve(urlsplit(url).path).func, "cls", None)
    parsers = getattr(view_class, "parser_classes", [])
    if method in ("post", "put") and any(p.media_type == "application/json" for p in parsers):
        return {"content_type": "application/json"}
    return {}


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_access(route: str, world: dict[str, Any], api_client: Callable[[User], Client]) -> None:
    method, expected = MATRIX[route]
    Job.objects.filter(pk=world["job"].pk).update(status=Job.Status.DRAFT)  # editable for the owner
    for role, status in zip(CAST, expected, strict=True):
        user = world["users"][role]
        shop_api = url_for(route, world).startswith("/api/v1/")
        if shop_api and role in ("winning_shop", "stranger"):
            Job.objects.filter(pk=world["job"].pk).update(status=Job.Status.OPEN)
            client = api_client(user)
        else:
            client = Client()
            if user is not None:
                client.force_login(user)
        url = url_for(route, world)
        response = getattr(client, method)(url, **body_for(url, method))
        assert response.status_code == status, (
            f"{route} as {role}: {response.status_code}, expected {status}"
        )
