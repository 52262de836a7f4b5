"""The access matrix: every route, every member of the fixed cast (STYLE.md rule 11).
A route that is not in the matrix fails the test, so new routes must declare who may use them.

Every route is tried on a real object that belongs to someone (the `world` below): the winning
shop's order, won over the losing shop, with its released design, a part's records and evidence,
and a part's certificate; so an owner's 200 says the object is there, and a 404 for anyone else
is a refusal. Each request runs in a savepoint that is rolled back, so every member of the cast
meets the world as it was built, whatever an earlier request changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from marketplace.models import DesignFile, Job, Order, User
from printshops.models import ApiKey, Certificate
from tests.world import PNG

CAST = [
    "anonymous", "customer", "other_customer", "winning_shop", "losing_shop", "stranger", "admin",
]  # fmt: skip
SHOPS = {"winning_shop", "losing_shop", "stranger"}
LOGIN = 302  # anonymous users are sent to the login page
HOME = 302  # members of the wrong kind of organisation are sent to their dashboard
MEASUREMENT = {
    "part_serial": "P-1", "characteristic": "Bore diameter", "nominal": "10.00",
    "tolerance": "0.05", "measured": "10.01", "instrument": "Mitutoyo CMM",
}  # fmt: skip

# route name: (method, expected status per member of the cast, in CAST order). "The order" is
# the winning shop's order for the customer's job, in production; "the draft" is another job of
# the customer's, still a draft; "the open job" is open for bids.
MATRIX: dict[str, tuple[str, list[int]]] = {
    "home": ("get", [200, 302, 302, 302, 302, 302, 302]),
    # Public: the order's design, registered on chain.
    "design_proof": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "signup": ("get", [200, 302, 302, 302, 302, 302, 302]),
    # A newcomer's pending sign-up: another browser is asked for its password; signed-in
    # members are sent to their dashboard.
    "signup_confirm": ("get", [200, 302, 302, 302, 302, 302, 302]),
    # Django's password reset pages are open to everyone; a colleague's real reset link sends
    # whoever follows it on to its new-password form.
    "password_reset": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "password_reset_done": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "password_reset_confirm": ("get", [302, 302, 302, 302, 302, 302, 302]),
    "password_reset_complete": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "login": ("get", [200, 302, 302, 302, 302, 302, 302]),
    "logout": ("post", [302, 302, 302, 302, 302, 302, 302]),
    "dashboard": ("get", [LOGIN, 302, 302, 302, 302, 302, 200]),
    "organization": ("get", [LOGIN, 200, 200, 200, 200, 200, 200]),
    "job_list": ("get", [LOGIN, 200, 200, HOME, HOME, HOME, HOME]),
    "job_create": ("get", [LOGIN, 200, 200, HOME, HOME, HOME, HOME]),
    # The customer's pages of the order's job: nobody else's, the shop that won it included.
    "job_detail": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    "job_edit": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),  # the draft
    "job_order_panel": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    # 302 for the customer: done, or refused with a message (e.g. funding twice).
    "order_fund": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),
    "order_accept": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),
    "order_dispute": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),
    "order_claim_refund": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),
    # Only customers have wallets; anyone else is told so and sent back to the page.
    # Each person's own choice of e-mail: everyone signed in, about themselves.
    "account_notifications": ("post", [LOGIN, 302, 302, 302, 302, 302, 302]),
    "wallet_faucet": ("post", [LOGIN, 302, 302, 302, 302, 302, 302]),
    "wallet_withdraw": ("post", [LOGIN, 302, 302, 302, 302, 302, 302]),
    "wallet_register_own": ("post", [LOGIN, 302, 302, 302, 302, 302, 302]),
    "job_publish": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),  # the draft
    "job_cancel": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),  # the draft
    "design_file_upload": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),  # the draft
    "design_file_table": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    "design_file_download": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    "design_file_delete": ("post", [LOGIN, 302, 404, 404, 404, 404, 404]),  # the draft's file
    "shop_profile": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    "api_keys": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    # The winning shop's key: no other shop's.
    "api_key_revoke": ("post", [LOGIN, HOME, HOME, 302, 404, 404, HOME]),
    "shop_open_jobs": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    "shop_bids": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    # The customer's receipt for the order it paid into escrow; nobody else's.
    "order_receipt": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    # The winning shop's receipt for its payout; nobody else's.
    "payout_receipt": ("get", [LOGIN, 404, 404, 200, 404, 404, 404]),
    "shop_orders": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    # The order, as the shop that won it sees it.
    "shop_order_detail": ("get", [LOGIN, HOME, HOME, 200, 404, 404, HOME]),
    "shop_order_timeline": ("get", [LOGIN, HOME, HOME, 200, 404, 404, HOME]),
    # The API authenticates with shop API keys only (sessions do not count there); verified
    # shops only, except for registering keys.
    "api_job_list": ("get", [401, 401, 401, 200, 200, 403, 401]),
    "api_job_detail": ("get", [401, 401, 401, 200, 200, 403, 401]),  # the open job
    "api_job_bids": ("get", [401, 401, 401, 200, 200, 403, 401]),  # the open job, own bids
    "api_job_bid_reveal": ("post", [401, 401, 401, 400, 400, 403, 401]),  # 400: no body
    "api_bids": ("get", [401, 401, 401, 200, 200, 403, 401]),
    "api_chain": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "api_releases": ("get", [401, 401, 401, 200, 200, 403, 401]),  # each shop's own
    # The order's design, released to the winning shop.
    "api_release_ciphertext": ("get", [401, 401, 401, 200, 404, 403, 401]),
    # Under the order's licence: a print ticket, the delivery, evidence, an event, measurements.
    # (Listing tickets answers each shop with its own, none for another's order: taking one is
    # what must be refused.)
    "api_job_tickets": ("post", [401, 401, 401, 201, 404, 403, 401]),
    "api_orders": ("get", [401, 401, 401, 200, 200, 403, 401]),  # each shop's own
    "api_order_delivered": ("post", [401, 401, 401, 202, 404, 403, 401]),
    "api_payouts": ("get", [401, 401, 401, 200, 200, 403, 401]),  # each shop's own
    "api_payout_withdraw": ("post", [401, 401, 401, 400, 400, 403, 401]),  # 400: no body
    "api_shop_keys": ("get", [401, 401, 401, 200, 200, 200, 401]),
    "api_shop_key_challenge": ("post", [401, 401, 401, 201, 201, 201, 401]),
    "api_job_evidence": ("post", [401, 401, 401, 201, 404, 403, 401]),
    "api_job_events": ("post", [401, 401, 401, 201, 404, 403, 401]),
    "api_job_quality": ("post", [401, 401, 401, 201, 404, 403, 401]),
    "api_job_quality_batch": ("post", [401, 401, 401, 201, 404, 403, 401]),
    "api_job_records": ("get", [401, 401, 401, 200, 404, 403, 401]),
    "api_job_quality_gate": ("get", [401, 401, 401, 200, 404, 403, 401]),
    # The order's production, evidence and certificate: the customer's and the winning shop's.
    "job_production_timeline": ("get", [LOGIN, 200, 404, 404, 404, 404, 404]),
    "evidence_download": ("get", [LOGIN, 200, 404, 200, 404, 404, 404]),
    "certificate_detail": ("get", [LOGIN, 200, 404, 200, 404, 404, 404]),
    "certificate_download": ("get", [LOGIN, 200, 404, 200, 404, 404, 404]),
    # Public (the id is the capability): the certificate, and a part record.
    "verify_record": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "verify_check": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "verify_proof": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "shop_public_profile": ("get", [200, 200, 200, 200, 200, 200, 200]),
    # The winning shop's machine. Writes are sent without a body: the machine is looked up
    # first, so its shop gets 400 (nothing to do) where any other gets 404.
    "api_machines": ("get", [401, 401, 401, 200, 200, 200, 401]),  # each shop's own
    "api_machine": ("get", [401, 401, 401, 200, 404, 404, 401]),
    "api_machine_keys": ("post", [401, 401, 401, 400, 404, 404, 401]),
    "api_machine_key_approve": ("post", [401, 401, 401, 400, 404, 404, 401]),
    "api_machine_key_revoke": ("post", [401, 401, 401, 400, 404, 404, 401]),
    "api_machine_events": ("post", [401, 401, 401, 400, 404, 404, 401]),
    # Its pages: each shop its own list; the machine's page (with its polled status panel and
    # chart data) and revoking its key the owner's.
    "machine_list": ("get", [LOGIN, HOME, HOME, 200, 200, 200, HOME]),
    "machine_detail": ("get", [LOGIN, HOME, HOME, 200, 404, 404, HOME]),
    "machine_status_panel": ("get", [LOGIN, HOME, HOME, 200, 404, 404, HOME]),
    "machine_samples": ("get", [LOGIN, HOME, HOME, 200, 404, 404, HOME]),
    "machine_key_revoke": ("post", [LOGIN, HOME, HOME, 302, 404, 404, HOME]),
    "schema": ("get", [200, 200, 200, 200, 200, 200, 200]),
    # The web process's health check: anyone's.
    "healthz": ("get", [200, 200, 200, 200, 200, 200, 200]),
    "api_docs": ("get", [200, 200, 200, 200, 200, 200, 200]),
}
NOT_OURS = {"admin", "djdt"}

# Bodies for the writes that check their body before they look for the shop's order: without
# one every shop is refused alike (400), and the row could not tell the owner from the others.
BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "api_job_tickets": lambda: {"machine": "EOS M 290 #2", "part_serial": "P-2"},
    "api_job_evidence": lambda: {"file": SimpleUploadedFile("bore.png", PNG)},
    "api_job_events": lambda: {
        "part_serial": "P-1",
        "kind": "inspection",
        "data": {"outcome": "passed"},
    },
    "api_job_quality": lambda: dict(MEASUREMENT),
    "api_job_quality_batch": lambda: {"records": [dict(MEASUREMENT)]},
}


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


def url_for(name: str, world: dict[str, Any]) -> str:
    order: Job = world["order"]
    draft: Job = world["draft"]
    open_job: Job = world["open"]
    certificate: Certificate = world["certificate"]
    args: dict[str, list[Any]] = {
        "design_proof": [world["order_file"].sha256],
        "signup_confirm": [world["signup_token"]],
        "password_reset_confirm": world["reset_link"],
        "job_detail": [order.pk],
        "job_edit": [draft.pk],
        "job_order_panel": [order.pk],
        "order_fund": [order.pk],
        "order_accept": [order.pk],
        "order_dispute": [order.pk],
        "order_claim_refund": [order.pk],
        "job_publish": [draft.pk],
        "job_cancel": [draft.pk],
        "design_file_upload": [draft.pk],
        "design_file_table": [order.pk],
        "design_file_download": [order.pk, world["order_file"].pk],
        "design_file_delete": [draft.pk, world["draft_file"].pk],
        "api_key_revoke": [world["key"].pk],
        "shop_order_detail": [order.pk],
        "order_receipt": [order.pk],
        "payout_receipt": [world["payout"].pk],
        "shop_order_timeline": [order.pk],
        "api_job_detail": [open_job.pk],
        "api_job_bids": [open_job.pk],
        "api_job_bid_reveal": [open_job.pk],
        "api_release_ciphertext": [world["order_file"].pk],
        "api_job_tickets": [order.pk],
        "api_order_delivered": [order.pk],
        "api_job_evidence": [order.pk],
        "api_job_events": [order.pk],
        "api_job_quality": [order.pk],
        "api_job_quality_batch": [order.pk],
        "api_job_records": [order.pk],
        "api_job_quality_gate": [order.pk],
        "job_production_timeline": [order.pk],
        "evidence_download": [order.pk, world["evidence"].pk],
        "certificate_detail": [world["certified"].pk, certificate.pk],
        "certificate_download": [world["certified"].pk, certificate.pk],
        "verify_record": [certificate.pk],
        "verify_check": [world["record"].pk],
        "verify_proof": [world["record"].pk],
        "shop_public_profile": [world["users"]["winning_shop"].organization.pk],
        "machine_key_revoke": [world["machine"].pk, world["machine_key"].pk],
        **{
            name: [world["machine"].pk]
            for name in (
                "api_machine",
                "api_machine_keys",
                "api_machine_key_approve",
                "api_machine_key_revoke",
                "api_machine_events",
                "machine_detail",
                "machine_status_panel",
                "machine_samples",
            )
        },
    }
    return reverse(name, args=args.get(name, []))


def body_for(route: str, url: str, method: str) -> dict[str, Any]:
    """The route's body (BODIES), else an empty body of the media type the view reads: the
    API's JSON operations take nothing else (415), and the client's default is a multipart
    form."""
    view_class = getattr(resolve(urlsplit(url).path).func, "cls", None)
    parsers = getattr(view_class, "parser_classes", [])
    json_body = any(p.media_type == "application/json" for p in parsers)
    if route in BODIES:
        body = BODIES[route]()
        return {"data": body, "content_type": "application/json"} if json_body else {"data": body}
    if method in ("post", "put") and json_body:
        return {"content_type": "application/json"}
    return {}


def status_of(
    route: str, role: str, world: dict[str, Any], api_client: Callable[[User], Client]
) -> int:
    """The status `role` gets for `route`, in a savepoint rolled back afterwards."""
    method = MATRIX[route][0]
    user = world["users"][role]
    url = url_for(route, world)
    with transaction.atomic():
        if url.startswith("/api/v1/") and role in SHOPS:
            client = api_client(user)
        else:
            client = Client()
            if user is not None:
                client.force_login(user)
        response = getattr(client, method)(url, **body_for(route, url, method))
        if response.streaming:  # read to the end, which closes it as a server would
            b"".join(response.streaming_content)
        transaction.set_rollback(True)
    return int(response.status_code)


def test_access(world: dict[str, Any], api_client: Callable[[User], Client]) -> None:
    wrong = [
        f"{route} as {role}: {status}, expected {expected}"
        for route, (_, statuses) in MATRIX.items()
        for role, expected in zip(CAST, statuses, strict=True)
        if (status := status_of(route, role, world, api_client)) != expected
    ]
    assert not wrong, "\n".join(wrong)
    # and each request's changes were rolled back: the owners' writes above left nothing
    assert Order.objects.get(job=world["order"]).status == Order.Status.FUNDED
    assert DesignFile.objects.filter(pk=world["draft_file"].pk).exists()
    assert ApiKey.objects.get(pk=world["key"].pk).revoked_at is None
