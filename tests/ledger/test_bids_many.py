"""Sealed bids on several jobs in one request (POST /api/v1/bids/): each accepted or refused on
its own, relayed like single bids, in the same statements whatever their number."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.test import Client
from django.urls import reverse

from ledger.models import ChainTx
from marketplace.models import AuditEvent, User
from printfair.eip712 import BIDS_PER_REQUEST
from printshops.models import Bid
from tests.scenarios import bids_url, chain_bid, drain, sealed


def post_many(client: Client, entries: list[Any]) -> Any:
    return client.post(
        reverse("api_bids"), json.dumps({"bids": entries}), content_type="application/json"
    )


def entry(market: dict[str, Any], shop: User, job: Any, version: int = 1) -> dict[str, Any]:
    _, body = sealed(market, shop, job, 400_000_000 - version, version=version)
    return {"job": job.pk, **body}


def test_each_bid_of_a_request_is_accepted_or_refused_on_its_own(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    first, second = market["jobs"]
    client = api_client(winning_shop)
    _, version_3 = sealed(market, winning_shop, second, 390_000_000, version=3)
    assert (
        client.post(bids_url(second), version_3, content_type="application/json").status_code == 201
    )
    replayed = entry(market, winning_shop, first, 2) | {"job": second.pk}
    entries = [
        entry(market, winning_shop, first),  # accepted
        replayed,  # signed for the first job
        {"job": first.pk, "commitment": "0x12", "version": 1, "signature": "0x"},  # malformed
        entry(market, winning_shop, first, 2),  # a second bid on the first job
        {**entry(market, winning_shop, first), "job": 999_999},  # no such job
        "not an object",
    ]

    response = post_many(client, entries)
    stale = post_many(client, [entry(market, winning_shop, second, 2)])  # version 3 is in

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["refused"]) == (1, 5)
    outcomes = [(r["job"], r["status"], r.get("error", {}).get("code")) for r in body["results"]]
    assert outcomes == [
        (first.pk, 201, None),
        (second.pk, 400, "bad_signature"),
        (first.pk, 400, "validation_error"),
        (first.pk, 400, "duplicate_job"),
        (999_999, 404, "not_found"),
        (None, 400, "validation_error"),
    ]
    (refusal,) = stale.json()["results"]
    assert (refusal["status"], refusal["error"]["code"]) == (409, "stale_version")
    assert body["results"][2]["error"]["fields"]["commitment"]
    accepted = body["results"][0]["bid"]
    assert accepted["version"] == 1 and accepted["relay"]["status"] == ChainTx.Status.PENDING
    # only the accepted bid was stored, audited and relayed; the second job keeps version 3
    assert dict(Bid.objects.values_list("job_id", "version")) == {first.pk: 1, second.pk: 3}
    assert AuditEvent.objects.filter(verb="bid.committed").count() == 2
    drain()
    address = market["keys"][winning_shop.pk].address
    assert chain_bid(first.pk, address)["version"] == 1
    assert chain_bid(second.pk, address)["version"] == 3


def test_a_request_with_too_many_bids_or_none_is_refused_whole(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    client = api_client(winning_shop)
    one = entry(market, winning_shop, market["jobs"][0])
    for entries in ([one] * (BIDS_PER_REQUEST + 1), []):
        response = post_many(client, entries)
        assert response.status_code == 400, response.json()
        assert response.json()["error"]["code"] == "validation_error"
    assert not Bid.objects.exists() and not ChainTx.objects.filter(function="commitFor").exists()


def test_bids_on_several_jobs_take_the_statements_of_one(
    market: dict[str, Any],
    winning_shop: User,
    api_client: Callable[[User], Client],
    django_assert_max_num_queries: Any,
) -> None:
    """A single bid's nine statements (test_bids.py), whatever the number of bids."""
    client = api_client(winning_shop)
    client.get(reverse("api_bids"))  # the key's last use is recorded once a minute
    with django_assert_max_num_queries(9):
        response = post_many(client, [entry(market, winning_shop, job) for job in market["jobs"]])
    assert response.json()["accepted"] == 2
