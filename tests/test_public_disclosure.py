"""What anyone without an account can see names nobody (DESIGN section 6; issue 14, item 2).

A whole order is run to its certificates, then every public address is crawled logged out, from
the pages an outsider can reach (the home page, each design's proof of existence, each record's
and certificate's verification page and proof bundle, each verified shop's profile, the public
API) and every same-site link they show. No response may carry an organisation's name, a
person's name or e-mail address, a job's title, or a field naming a user."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.test import Client
from django.urls import reverse

from marketplace.models import DesignFile, Job, Organization, User
from printshops.models import Certificate, PartRecord, PrintShopProfile
from tests.scenarios import Released, anchor_all, delivered, post, produce, settle

LINK = re.compile(r"""(?:href|src|hx-get)=["']([^"'#]+)""")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# Where a crawl must not go: what only serves files, and the forms of logged-out users.
SKIP = ("/static/", "/logout/", "/login/", "/signup/", "/password/")
MAX_PAGES = 400


def public_entry_points() -> Iterator[str]:
    yield "/"
    yield reverse("api_chain")
    yield "/api/schema/?format=json"
    for sha256 in DesignFile.objects.values_list("sha256", flat=True).distinct():
        yield reverse("design_proof", args=[sha256])
    subjects = [*PartRecord.objects.values_list("pk", flat=True)]
    subjects += Certificate.objects.values_list("pk", flat=True)
    for pk in subjects:
        yield reverse("verify_record", args=[pk])
        yield reverse("verify_check", args=[pk])
        yield reverse("verify_proof", args=[pk])
    for organization_id in PrintShopProfile.objects.values_list("organization_id", flat=True):
        yield reverse("shop_public_profile", args=[organization_id])


def crawl(client: Client) -> dict[str, tuple[int, str]]:
    """Every same-site URL reachable logged out: its status and body."""
    seen: dict[str, tuple[int, str]] = {}
    queue = deque(public_entry_points())
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen or url.startswith(SKIP):
            continue
        response = client.get(url)
        body = response.content.decode() if not response.streaming else ""
        seen[url] = (response.status_code, body)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            for link in LINK.findall(body):
                target = urlsplit(urljoin(url, link))
                if target.netloc in ("", "testserver") and target.path.startswith("/"):
                    queue.append(target.path + (f"?{target.query}" if target.query else ""))
    return seen


def keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys(item)


def test_a_logged_out_crawl_of_every_public_url_names_nobody(
    released: Released,
    customer: User,
    other_customer: User,
    login: Callable[[User | None], Client],
) -> None:
    # given: a whole order, accepted, with its certificates anchored
    job, _, shop = released
    for number in range(job.quantity):
        produce(shop, job, f"P-{number + 1}")
    anchor_all()
    delivered(job, shop)
    assert "Accepted" in post(login(customer), "order_accept", job)
    settle()
    anchor_all()
    assert Certificate.objects.filter(order__job=job).exists()
    secrets = {
        *Organization.objects.values_list("name", flat=True),
        *User.objects.values_list("email", flat=True),
        *(name for name in User.objects.values_list("name", flat=True) if name),
        *Job.objects.values_list("title", flat=True),
    }

    # when
    pages = crawl(Client())

    # then: the crawl reached every kind of public page, each naming nobody
    reached = {url for url, (status, _) in pages.items() if status == 200}
    for kind in ("/designs/", "/verify/", "/proof.json", "/shops/", "/api/v1/chain/"):
        assert any(kind in url for url in reached), kind
    assert len(reached) > 20, sorted(reached)
    for url, (status, body) in pages.items():
        assert status < 500, url
        for secret in secrets:
            assert secret not in body, (url, secret)
        assert not EMAIL.search(body), (url, EMAIL.search(body))
        if body.startswith(("{", "[")):
            named = {key for key in keys(json.loads(body)) if "user" in key or "email" in key}
            assert not named, (url, named)
