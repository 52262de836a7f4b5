"""Sealed bids through the shop API, relayed to the real AuctionHouse and revealed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.anvil import rpc
from ledger.models import ChainTx
from marketplace.models import Job, User
from marketplace.services import design_file_attach, job_publish
from marketplace.uploads import encrypt_chunks
from printshops.models import Bid, PrintShopProfile
from tests import factories
from tests.scenarios import (
    auction_on_chain,
    bid_and_reveal,
    bids_url,
    chain_bid,
    chain_reveal,
    close_bidding,
    drain,
    finish_auction,
    sealed,
)


def test_bids_are_relayed_together_revealed_and_kept_private(
    market: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    job = market["jobs"][0]
    winner, loser = api_client(winning_shop), api_client(losing_shop)
    bid_w, body_w = sealed(market, winning_shop, job, 400_000_000)
    bid_l, body_l = sealed(market, losing_shop, job, 450_000_000)
    # when
    assert winner.post(bids_url(job), body_w, content_type="application/json").status_code == 201
    assert loser.post(bids_url(job), body_l, content_type="application/json").status_code == 201
    drain()
    # then: one transaction carried both commitments to the contract
    relays = ChainTx.objects.filter(function="commitFor")
    assert {r.status for r in relays} == {ChainTx.Status.FINAL}
    assert len({r.tx_hash for r in relays}) == 1
    for bid in (bid_w, bid_l):
        assert chain_bid(job.pk, bid.shop)["commitment"] == bid.commitment()[:28]
    # shops see their own bids only, and no price before revealing
    mine = winner.get(reverse("api_bids")).json()["results"]
    assert [(b["job"], b["price"]) for b in mine] == [(job.pk, None)]
    # revealing: after the bidding deadline, and only the true preimage
    close_bidding(market, job)
    reveal = reverse("api_job_bid_reveal", args=[job.pk])
    wrong = {"price": bid_w.price + 1, "lead_time_days": 10, "salt": "0x" + bid_w.salt.hex()}
    refused = winner.post(reveal, wrong, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "commitment_mismatch"
    right = {"price": bid_w.price, "lead_time_days": 10, "salt": "0x" + bid_w.salt.hex()}
    assert winner.post(reveal, right, content_type="application/json").status_code == 200
    drain()
    reveal_tx = ChainTx.objects.get(function="reveal")
    assert reveal_tx.status == ChainTx.Status.FINAL, reveal_tx.error
    assert chain_reveal(job.pk, bid_w.shop) == (bid_w.price, 10)


def test_a_lead_time_that_cannot_win_is_refused_at_the_reveal_and_never_relayed(
    market: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    # given: the job's longest lead time, the same in the API and on chain
    job = Job.objects.get(pk=market["jobs"][0].pk)
    longest = job.max_lead_time_days
    shop = api_client(winning_shop)
    listed = shop.get(reverse("api_job_detail", args=[job.pk])).json()
    assert listed["max_lead_time_days"] == longest
    drain()
    assert auction_on_chain(job.pk)["maxLeadTimeDays"] == longest
    # sealed bids with lead times of 0 and one day too many go in (nobody can see them)
    zero, body_zero = sealed(market, winning_shop, job, 400_000_000, lead=0)
    long, body_long = sealed(market, losing_shop, job, 300_000_000, lead=longest + 1)
    assert shop.post(bids_url(job), body_zero, content_type="application/json").status_code == 201
    other = api_client(losing_shop)
    assert other.post(bids_url(job), body_long, content_type="application/json").status_code == 201
    close_bidding(market, job)
    # when: each is revealed
    url = reverse("api_job_bid_reveal", args=[job.pk])
    for client, bid in ((shop, zero), (other, long)):
        body = {
            "price": bid.price,
            "lead_time_days": bid.lead_time_days,
            "salt": "0x" + bid.salt.hex(),
        }
        refused = client.post(url, body, content_type="application/json")
        # then: refused with the range, and nothing goes to the chain (it would revert there)
        assert refused.status_code == 400, refused.json()
        error = refused.json()["error"]
        assert error["code"] == "lead_time_out_of_range"
        assert f"from 1 to {longest} days" in error["fields"]["lead_time_days"][0]
    assert not ChainTx.objects.filter(function="reveal").exists()


def test_a_bid_taken_just_before_the_deadline_lands_although_relayed_after_it(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    job = market["jobs"][0]
    client = api_client(winning_shop)
    # given: the API takes a bid in its last second
    bid, body = sealed(market, winning_shop, job, 400_000_000)
    assert client.post(bids_url(job), body, content_type="application/json").status_code == 201
    # when: the relay is mined only after the deadline the API enforces and shows
    Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now() - timedelta(seconds=1))
    rpc(market["url"], "evm_setNextBlockTimestamp", int(job.commit_deadline.timestamp()) + 5)
    rpc(market["url"], "evm_mine")
    drain()
    # then: the chain's deadline trails by the relay margin, so the bid is on chain
    relay = ChainTx.objects.get(function="commitFor")
    assert relay.status == ChainTx.Status.FINAL, relay.error
    assert chain_bid(job.pk, bid.shop)["commitment"] == bid.commitment()[:28]
    # and the API takes no more bids
    _, later = sealed(market, winning_shop, job, 390_000_000, version=2)
    refused = client.post(bids_url(job), later, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bidding_closed"


def test_a_bid_taken_before_its_auction_is_mined_is_relayed_after_it(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    api_client: Callable[[User], Client],
    testdata: Any,
) -> None:
    # given: a job published a moment ago, its createAuction still queued (on a real chain, the
    # next block is seconds away)
    job = factories.JobFactory.create(created_by=customer)
    data = (testdata / "stl" / "cube_binary.stl").read_bytes()
    design_file_attach(actor=customer, job=job, upload=encrypt_chunks("cube.stl", [data]))
    job = job_publish(actor=customer, job=job)
    assert job.auction_tx is not None and job.auction_tx.status == ChainTx.Status.PENDING
    # when: a shop bids at once, and one sender pass plans both calls
    bid, body = sealed(market, winning_shop, job, 400_000_000)
    client = api_client(winning_shop)
    assert client.post(bids_url(job), body, content_type="application/json").status_code == 201
    drain()
    # then: the bid waited for the auction instead of failing with AuctionNotFound
    relay = ChainTx.objects.get(function="commitFor")
    assert relay.status == ChainTx.Status.FINAL, relay.error
    assert chain_bid(job.pk, bid.shop)["commitment"] == bid.commitment()[:28]


def test_a_signature_replayed_on_another_job_or_by_another_shop_is_refused(
    market: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    first, second = market["jobs"]
    _, body = sealed(market, winning_shop, first, 400_000_000)
    on_other_job = api_client(winning_shop).post(
        bids_url(second), body, content_type="application/json"
    )
    assert (
        on_other_job.status_code == 400 and on_other_job.json()["error"]["code"] == "bad_signature"
    )
    by_other_shop = api_client(losing_shop).post(
        bids_url(first), body, content_type="application/json"
    )
    assert (
        by_other_shop.status_code == 400
        and by_other_shop.json()["error"]["code"] == "bad_signature"
    )


def test_versions_eligibility_and_the_deadline(
    market: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    job = market["jobs"][0]
    client = api_client(winning_shop)
    _, v1 = sealed(market, winning_shop, job, 400_000_000, version=1)
    assert client.post(bids_url(job), v1, content_type="application/json").status_code == 201
    _, again = sealed(market, winning_shop, job, 390_000_000, version=1)
    stale = client.post(bids_url(job), again, content_type="application/json")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    _, v2 = sealed(market, winning_shop, job, 390_000_000, version=2)
    assert client.post(bids_url(job), v2, content_type="application/json").json()["version"] == 2
    PrintShopProfile.objects.filter(organization=losing_shop.organization).update(
        processes=["dmls"]
    )
    _, body = sealed(market, losing_shop, job, 400_000_000)
    ineligible = api_client(losing_shop).post(bids_url(job), body, content_type="application/json")
    assert ineligible.status_code == 403
    assert "does not offer SLS" in ineligible.json()["error"]["message"]
    Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now() - timedelta(seconds=1))
    _, v3 = sealed(market, winning_shop, job, 380_000_000, version=3)
    closed = client.post(bids_url(job), v3, content_type="application/json")
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "bidding_closed"


def test_a_version_beyond_the_bids_column_is_refused_not_a_server_error(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    """A shop may sign any uint64 version; the Bid's column holds up to 2**63 - 1 (it was an
    overflow in the store, a 500, on both databases)."""
    job = market["jobs"][0]
    client = api_client(winning_shop)
    _, too_large = sealed(market, winning_shop, job, 400_000_000, version=2**63)
    single = client.post(bids_url(job), too_large, content_type="application/json")
    many = client.post(
        reverse("api_bids"),
        {"bids": [{"job": job.pk, **too_large}]},
        content_type="application/json",
    )
    _, largest = sealed(market, winning_shop, job, 400_000_000, version=2**63 - 1)
    stored = client.post(bids_url(job), largest, content_type="application/json")

    assert single.status_code == 400 and "version" in single.json()["error"]["fields"]
    (refusal,) = many.json()["results"]
    assert (refusal["status"], refusal["error"]["code"]) == (400, "validation_error")
    assert "version" in refusal["error"]["fields"]
    assert stored.status_code == 201, stored.json()
    assert Bid.objects.get(job=job).version == 2**63 - 1


def test_the_auction_finalizes_by_itself_into_an_order(
    market: dict[str, Any],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    from marketplace.models import Order

    job = market["jobs"][0]
    clients = [
        (winning_shop, api_client(winning_shop), 400_000_000),
        (losing_shop, api_client(losing_shop), 450_000_000),
    ]
    bid_and_reveal(market, clients, job)
    finish_auction(market, job)
    order = Order.objects.get(job=job)
    assert order.shop == winning_shop.organization and order.price == 400_000_000
    job.refresh_from_db()
    assert job.status == Job.Status.AWARDED


def test_no_bid_under_the_reserve_fails_the_job(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    from marketplace.models import Order

    job = market["jobs"][1]  # reserve 500 USD = 500,000,000 base units
    bid_and_reveal(market, [(winning_shop, api_client(winning_shop), 600_000_000)], job)
    finish_auction(market, job)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert not Order.objects.exists()


def test_a_bid_takes_six_sql_statements_on_postgresql(
    market: dict[str, Any],
    winning_shop: User,
    api_client: Callable[[User], Client],
    django_assert_num_queries: Any,
) -> None:
    """The hot path of bench/bids.py: the key with its shop and member (1); then, between the
    transaction's bounds (2; a savepoint here), the job locked with the AuctionHouse's address,
    the shop's current version (read once the lock is held), and on PostgreSQL one statement
    for the outbox row, the bid and the audit event (printshops.services.bid_rows; 3).
    Elsewhere the ORM takes four for them (insert and read back the outbox row, upsert the bid,
    insert the audit event). The answer is made from what these read."""
    job = market["jobs"][0]
    client = api_client(winning_shop)
    client.get(reverse("api_bids"))  # the key's last use is recorded once a minute
    statements = 6 if connection.vendor == "postgresql" else 9
    for version in (1, 2):  # a new bid, then its replacement
        _, body = sealed(market, winning_shop, job, 400_000_000, version=version)
        with django_assert_num_queries(statements):
            response = client.post(bids_url(job), body, content_type="application/json")
        assert response.status_code == 201, response.json()
        assert response.json()["version"] == version and response.json()["outcome"] == "pending"
    assert Bid.objects.get(job=job).version == 2
