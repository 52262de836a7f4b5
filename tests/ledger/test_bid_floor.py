"""bench/bids_urls.py's floors: the least a bid can cost is only a floor if it does a bid's
writes. The same shop's signed bid through the product on one job and through a floor on the
other must leave the same rows: the Bid, its commitFor outbox row, its audit event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from ledger.models import ChainTx
from marketplace.models import AuditEvent, Job, User
from printshops.models import Bid
from tests.scenarios import bids_url, sealed

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the floors are PostgreSQL's SQL, as bench/ runs"
    ),
    pytest.mark.urls("bench.bids_urls"),
]

BID_FIELDS = ("organization_id", "shop_address", "version", "status")
RELAY_FIELDS = ("chain_id", "sender", "contract", "function", "status")


def written(job: Job) -> dict[str, Any]:
    """The rows the bids on `job` left: the Bid, its outbox row and its audit events, with what
    differs from job to job (the job's id, the commitment and the signature) made alike."""

    def alike(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("0x") and len(value) > 42:
            return f"{len(value)} characters"
        return value

    bid = Bid.objects.select_related("commit_tx").get(job=job)
    relay = bid.commit_tx
    assert relay is not None and relay.waits_for_id == job.auction_tx_id
    assert len(bid.commitment) == 66 and len(bytes(bid.signature)) == 65
    events = AuditEvent.objects.filter(target_type="printshops.bid", target_id=str(bid.pk))
    return {
        "bid": {name: getattr(bid, name) for name in BID_FIELDS},
        "relay": {name: getattr(relay, name) for name in RELAY_FIELDS},
        "arguments": [relay.args[0] == job.pk, *map(alike, relay.args[1:])],
        "events": [
            (
                event.verb,
                event.actor_id,
                event.organization_id,
                event.data["job"] == job.pk,
                *sorted(event.data.items() - {("job", job.pk)}),
            )
            for event in events.order_by("id")
        ],
    }


def test_the_floors_write_what_a_bid_writes(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    product_job, floor_job = market["jobs"]
    client = api_client(winning_shop)
    for version in (1, 2):  # a new bid, then its replacement
        _, body = sealed(market, winning_shop, product_job, 400_000_000, version=version)
        response = client.post(bids_url(product_job), body, content_type="application/json")
        assert response.status_code == 201, response.json()
    # the same bids (signed for the other job) through the single floor, then the bulk one
    _, body = sealed(market, winning_shop, floor_job, 400_000_000, version=1)
    floor = client.post(
        f"/bench/api/bid-floor/{floor_job.pk}/", body, content_type="application/json"
    )
    assert floor.status_code == 201, floor.content
    _, body = sealed(market, winning_shop, floor_job, 400_000_000, version=2)
    bulk = client.post(
        "/bench/api/bids-floor/",
        {"bids": [{"job": floor_job.pk, **body}]},
        content_type="application/json",
    )
    assert bulk.status_code == 200 and len(bulk.json()["accepted"]) == 1, bulk.content
    # then
    assert written(floor_job) == written(product_job)
    assert ChainTx.objects.filter(function="commitFor").count() == 4  # one per version and job
    assert AuditEvent.objects.filter(verb="bid.committed").count() == 4
    # a stale version is refused, and leaves no bid
    _, body = sealed(market, winning_shop, floor_job, 400_000_000, version=2)
    stale = client.post(
        f"/bench/api/bid-floor/{floor_job.pk}/", body, content_type="application/json"
    )
    assert stale.status_code == 409
    assert Bid.objects.get(job=floor_job).version == 2
