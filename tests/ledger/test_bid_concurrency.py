"""Sealed bids under load and abuse, on PostgreSQL: many shops bidding on one job at once, a
shop's versions racing each other, signed bodies replayed, reveals repeated, and finalizers,
the sender and the indexer all running at the same time. Every request goes through the real
API view (Django's test client, one thread and one database connection per request) and every
chain write through the real outbox, sender and AuctionHouse on anvil.

SQLite serialises writers on a file lock, so these races exist only on PostgreSQL (CI runs it;
locally: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from web3.contract import Contract

from ledger.anvil import Anvil
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import ChainEvent, ChainTx
from ledger.services.indexer import index_chain
from ledger.services.sender import chaintx_process
from ledger.services.sender.signing import CALLS_PER_TX
from marketplace.models import AuditEvent, Job, Order, User
from marketplace.services import auctions_finalize_due, design_file_attach, job_publish
from marketplace.uploads import encrypt_chunks
from printfair.eip712 import Bid as SealedBid
from printshops.models import Bid
from printshops.services import api_key_create
from tests import factories
from tests.scenarios import (
    api_post,
    at_once,
    auction_on_chain,
    bids_url,
    chain_bid,
    chain_reveal,
    drain,
    pass_deadline,
    register_keys,
    sealed,
)

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrency needs PostgreSQL (SQLite serialises writers); set DATABASE_URL",
    ),
    pytest.mark.django_db(transaction=True),
]

AWARDED = 3  # IAuctionHouse.Status.Awarded
PRICE = 400_000_000  # 400 USD in the settlement token's base units, under the 500 USD reserve


# --- harness ------------------------------------------------------------------------------------


@contextmanager
def looping(*functions: Callable[[], object]) -> Iterator[None]:
    """Calls each function over and over, each in a thread of its own, until the block ends;
    an exception in any of them fails the test."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(function: Callable[[], object]) -> None:
        try:
            while not stop.is_set():
                function()
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def statuses(responses: list[Any]) -> Counter[tuple[int, str]]:
    """How many responses had each (status, error code); a 500 is Django's HTML page."""

    def code(response: Any) -> str:
        if response.status_code >= 500:
            return "server_error"
        return response.json()["error"]["code"] if response.status_code >= 400 else ""

    return Counter((r.status_code, code(r)) for r in responses)


def refusals(responses: list[Any]) -> list[tuple[int, bytes]]:
    """What the refused requests answered, for the assertion messages."""
    return [(r.status_code, r.content[:300]) for r in responses if r.status_code >= 400]


def reveal_body(bid: SealedBid, **changes: Any) -> dict[str, Any]:
    body = {"price": bid.price, "lead_time_days": bid.lead_time_days, "salt": "0x" + bid.salt.hex()}
    return {**body, **changes}


def reveal_url(job: Job) -> str:
    return reverse("api_job_bid_reveal", args=[job.pk])


def house() -> Contract:
    return contract(web3_client(), "AuctionHouse")


def relays_of(job: Job, address: str = "") -> Any:
    return ChainTx.objects.filter(idempotency_key__startswith=f"bid.commit:{job.pk}:{address}")


@pytest.fixture
def open_market(deployed: Anvil, customer: User, testdata: Any) -> Callable[..., dict[str, Any]]:
    """`make(shops=N)`: N verified shops with registered keys (on chain too) and an API key
    each, and published jobs whose auctions are on chain. The dict works with the `market`
    scenario's helpers (`sealed`, `pass_deadline`; tests/scenarios.py)."""

    def make(
        *, shops: int, jobs: int = 1, commit_in: float = 300.0, reveal_in: float = 600.0
    ) -> dict[str, Any]:
        members = [
            factories.print_shop(f"bidder{n}@shops.example", f"Bidder {n}") for n in range(shops)
        ]
        keys = {shop.pk: register_keys(shop) for shop in members}
        tokens = {
            shop.pk: api_key_create(actor=shop, name="load", expires_at=None)[1] for shop in members
        }
        data = (testdata / "stl" / "star_binary.stl").read_bytes()
        now = timezone.now()
        published = []
        for _ in range(jobs):
            job = factories.JobFactory.create(
                created_by=customer,
                commit_deadline=now + timedelta(seconds=commit_in),
                reveal_deadline=now + timedelta(seconds=reveal_in),
            )
            design_file_attach(actor=customer, job=job, upload=encrypt_chunks("star.stl", [data]))
            published.append(job_publish(actor=customer, job=job))
        drain()  # shops verified on chain, auctions created
        return {
            "keys": keys,
            "tokens": tokens,
            "shops": members,
            "jobs": published,
            "house": house().address,
            "url": deployed.url,
        }

    return make


def bid_and_relay(market: dict[str, Any], job: Job, prices: list[int]) -> list[SealedBid]:
    """One bid of each of the first len(prices) shops, through the API, relayed on chain."""
    bids = []
    for shop, price in zip(market["shops"], prices, strict=False):
        bid, body = sealed(market, shop, job, price)
        assert api_post(market["tokens"][shop.pk], bids_url(job), body).status_code == 201
        bids.append(bid)
    drain()
    return bids


# --- many bids at once --------------------------------------------------------------------------


def test_fifty_shops_bidding_at_once_are_all_stored_and_relayed_in_batches(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=50)
    job = market["jobs"][0]
    shops = market["shops"]
    signed = {shop.pk: sealed(market, shop, job, PRICE + n) for n, shop in enumerate(shops)}
    # when
    responses = at_once(
        [partial(api_post, market["tokens"][s.pk], bids_url(job), signed[s.pk][1]) for s in shops]
    )
    # then: every bid accepted and stored, once
    assert statuses(responses) == {(201, ""): 50}, refusals(responses)
    stored = {bid.organization_id: bid for bid in Bid.objects.filter(job=job)}
    assert len(stored) == 50
    for shop in shops:
        bid = stored[shop.organization.pk]
        assert (bid.commitment, bid.version) == (signed[shop.pk][1]["commitment"], 1)
    assert relays_of(job).count() == 50
    # and relayed in as few commitMany transactions as CALLS_PER_TX allows
    drain()
    relays = list(relays_of(job))
    assert {r.status for r in relays} == {ChainTx.Status.FINAL}
    tx_hashes = {r.tx_hash for r in relays}
    assert len(tx_hashes) == math.ceil(50 / CALLS_PER_TX)
    w3, handle = web3_client(), house()
    carried = 0
    for tx_hash in tx_hashes:
        function, params = handle.decode_function_input(w3.eth.get_transaction(tx_hash)["input"])
        assert function.fn_name == "commitMany"
        carried += len(params["jobIds"])
    assert carried == 50
    for shop in shops:
        on_chain = chain_bid(job.pk, market["keys"][shop.pk].address)
        assert (on_chain["commitment"], on_chain["version"]) == (
            signed[shop.pk][0].commitment()[:28],
            1,
        )
    assert auction_on_chain(job.pk)["commitCount"] == 50


def test_requests_with_several_bids_on_the_same_jobs_in_opposite_orders_all_go_in(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    """POST /api/v1/bids/ locks its jobs: in the order given, two requests naming the same
    jobs the other way round could each hold a lock the other waits for (a deadlock, which
    PostgreSQL breaks by failing one). They are locked in id order."""
    market = open_market(shops=6, jobs=3)
    jobs = market["jobs"]
    calls = []
    for n, shop in enumerate(market["shops"]):
        mine = jobs if n % 2 else jobs[::-1]
        entries = [{"job": job.pk, **sealed(market, shop, job, PRICE - n)[1]} for job in mine]
        calls.append(partial(api_post, market["tokens"][shop.pk], reverse("api_bids"),
                             {"bids": entries}))  # fmt: skip
    # when: every shop's request at once, half of them naming the jobs backwards
    responses = at_once(calls)
    # then: every bid of every request went in, and on chain
    assert statuses(responses) == Counter({(200, ""): 6}), refusals(responses)
    assert all(r.json()["accepted"] == 3 for r in responses), [r.json() for r in responses]
    assert Bid.objects.filter(job__in=jobs).count() == 18
    drain()
    assert [auction_on_chain(job.pk)["commitCount"] for job in jobs] == [6, 6, 6]


def test_versions_racing_leave_one_live_bid_the_highest_in_the_database_and_on_chain(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=4)
    job = market["jobs"][0]
    versions = range(1, 7)
    calls, sent = [], []
    latest: dict[int, SealedBid] = {}
    for shop in market["shops"]:
        for version in versions:
            bid, body = sealed(market, shop, job, PRICE - version, version=version)
            calls.append(partial(api_post, market["tokens"][shop.pk], bids_url(job), body))
            sent.append((shop, version))
            latest[shop.pk] = bid
    # when: each shop's six versions at once, while the sender relays what comes in
    with looping(chaintx_process):
        responses = at_once(calls)
    drain()
    # then: no 500; each version either accepted or refused as stale
    assert set(statuses(responses)) <= {(201, ""), (409, "stale_version")}, refusals(responses)
    for shop in market["shops"]:
        accepted = [
            version
            for (who, version), response in zip(sent, responses, strict=True)
            if who == shop and response.status_code == 201
        ]
        # the newest version cannot be stale, so it is always in
        assert max(versions) in accepted
        live = Bid.objects.get(job=job, organization=shop.organization)
        assert live.version == max(versions)
        assert live.commitment == "0x" + latest[shop.pk].commitment().hex()
        # one relay per accepted version, queued in version order and all on chain
        address = market["keys"][shop.pk].address
        relays = list(relays_of(job, address).order_by("id"))
        assert [r.args[3] for r in relays] == sorted(accepted)
        assert {r.status for r in relays} == {ChainTx.Status.FINAL}, [r.error for r in relays]
        on_chain = chain_bid(job.pk, address)
        assert (on_chain["commitment"], on_chain["version"]) == (
            latest[shop.pk].commitment()[:28],
            max(versions),
        )
    assert Bid.objects.filter(job=job).count() == 4


def test_a_signed_bid_replayed_at_once_is_taken_once(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=3, jobs=2)
    first, second = market["jobs"]
    owner, *others = market["shops"]
    bid, body = sealed(market, owner, first, PRICE)
    calls = [partial(api_post, market["tokens"][owner.pk], bids_url(first), body)] * 5
    calls += [partial(api_post, market["tokens"][owner.pk], bids_url(second), body)] * 3
    calls += [partial(api_post, market["tokens"][o.pk], bids_url(first), body) for o in others] * 2
    # when
    responses = at_once(calls)
    # then: the shop's own submission once; its repeats are stale; on another job or from
    # another shop the signature is not theirs
    assert statuses(responses) == {
        (201, ""): 1,
        (409, "stale_version"): 4,
        (400, "bad_signature"): 7,
    }, refusals(responses)
    assert list(Bid.objects.values_list("job", "organization")) == [
        (first.pk, owner.organization.pk)
    ]
    assert relays_of(first).count() == 1 and not relays_of(second).exists()
    drain()
    assert chain_bid(first.pk, bid.shop)["commitment"] == bid.commitment()[:28]


def test_bids_racing_the_close_of_bidding_are_stored_or_refused_as_closed(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=20)
    job = market["jobs"][0]
    shops = market["shops"]
    bodies = [sealed(market, shop, job, PRICE)[1] for shop in shops]

    def close() -> None:
        time.sleep(0.05)
        Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now())

    # when: bidding closes while the bids come in
    calls: list[Callable[[], Any]] = [
        partial(api_post, market["tokens"][shop.pk], bids_url(job), body)
        for shop, body in zip(shops, bodies, strict=True)
    ]
    responses = at_once([*calls, close])[:-1]
    # then: each bid either stored or refused as too late, and none after the close
    assert set(statuses(responses)) <= {(201, ""), (409, "bidding_closed")}, refusals(responses)
    accepted = sum(1 for r in responses if r.status_code == 201)
    assert Bid.objects.filter(job=job).count() == accepted == relays_of(job).count()
    _, late = sealed(market, shops[0], job, PRICE - 1, version=2)
    refused = api_post(market["tokens"][shops[0].pk], bids_url(job), late)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "bidding_closed")


# --- reveals ------------------------------------------------------------------------------------


def test_reveals_only_in_the_window_only_the_true_preimage_and_only_once(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=1)
    job = market["jobs"][0]
    token = market["tokens"][market["shops"][0].pk]
    [bid] = bid_and_relay(market, job, [PRICE])

    def reveal(body: dict[str, Any]) -> tuple[int, str]:
        response = api_post(token, reveal_url(job), body)
        return response.status_code, response.json().get("error", {}).get("code", "")

    assert reveal(reveal_body(bid)) == (409, "too_early")
    pass_deadline(market, job, "commit_deadline")
    # a preimage that differs in any part is refused, and costs the shop nothing
    for wrong in (
        reveal_body(bid, salt="0x" + bytes(32).hex()),
        reveal_body(bid, lead_time_days=bid.lead_time_days + 1),
        reveal_body(bid, price=bid.price - 1),
    ):
        assert reveal(wrong) == (400, "commitment_mismatch")
    # the true one, sent five times at once, is taken once
    responses = at_once([partial(api_post, token, reveal_url(job), reveal_body(bid))] * 5)
    assert statuses(responses) == {(200, ""): 1, (409, "already_revealed"): 4}, refusals(responses)
    assert ChainTx.objects.filter(function="reveal").count() == 1
    drain()
    assert ChainTx.objects.get(function="reveal").status == ChainTx.Status.FINAL
    assert chain_reveal(job.pk, bid.shop)[0] == bid.price


def test_no_reveal_after_the_reveal_deadline(open_market: Callable[..., dict[str, Any]]) -> None:
    market = open_market(shops=1)
    job = market["jobs"][0]
    [bid] = bid_and_relay(market, job, [PRICE])
    pass_deadline(market, job, "commit_deadline")
    pass_deadline(market, job, "reveal_deadline")
    # when
    late = api_post(market["tokens"][market["shops"][0].pk], reveal_url(job), reveal_body(bid))
    # then
    assert (late.status_code, late.json()["error"]["code"]) == (409, "too_late")
    assert not ChainTx.objects.filter(function="reveal").exists()
    assert Bid.objects.get(job=job).status == Bid.Status.COMMITTED


# --- the award ----------------------------------------------------------------------------------


def test_finalizers_sender_and_indexers_at_once_award_the_job_once(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=3)
    job = market["jobs"][0]
    bids = bid_and_relay(market, job, [PRICE + 20_000_000, PRICE, PRICE + 50_000_000])
    pass_deadline(market, job, "commit_deadline")
    for shop, bid in zip(market["shops"], bids, strict=True):
        revealed = api_post(market["tokens"][shop.pk], reveal_url(job), reveal_body(bid))
        assert revealed.status_code == 200
    drain()
    pass_deadline(market, job, "reveal_deadline")
    # when: beat's finalize task in four places at once, the sender and three indexers
    with looping(*[auctions_finalize_due] * 4, chaintx_process, *[index_chain] * 3):
        wait_for(lambda: Order.objects.filter(job=job).exists())
        time.sleep(1.0)  # and all of them go on a while over an awarded job
    drain()
    index_chain()
    # then: asked once, finalized once, awarded once
    finalize = ChainTx.objects.get(function="finalize")
    assert finalize.status == ChainTx.Status.FINAL
    assert ChainEvent.objects.filter(name="AuctionFinalized").count() == 1
    order = Order.objects.get(job=job)
    winner = market["shops"][1]
    assert order.shop == winner.organization
    assert order.price == PRICE
    assert order.shop_address == market["keys"][winner.pk].address
    assert AuditEvent.objects.filter(verb="job.awarded").count() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.AWARDED
    auction = auction_on_chain(job.pk)
    assert (auction["status"], auction["winner"]) == (AWARDED, order.shop_address)


def test_a_finalize_asked_before_the_chains_clock_passes_the_deadline_waits_for_it(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    """The AuctionHouse judges deadlines by block time, which lags our clock (by up to a block;
    on a quiet dev chain by longer). Asked as soon as our clock passes the reveal deadline,
    `finalize` waits for block time to pass it instead of being refused for good."""
    market = open_market(shops=1)
    job = market["jobs"][0]
    [bid] = bid_and_relay(market, job, [PRICE])
    pass_deadline(market, job, "commit_deadline")
    token = market["tokens"][market["shops"][0].pk]
    assert api_post(token, reveal_url(job), reveal_body(bid)).status_code == 200
    drain()
    # given: past the reveal deadline on our clock, not yet in the chain's latest block
    Job.objects.filter(pk=job.pk).update(reveal_deadline=timezone.now() - timedelta(seconds=1))
    assert auctions_finalize_due() == 1
    drain()
    finalize = ChainTx.objects.get(function="finalize")
    assert finalize.status == ChainTx.Status.PENDING and not finalize.error
    # when: the chain's clock passes it too
    pass_deadline(market, job, "reveal_deadline")
    drain()
    index_chain()
    # then
    finalize.refresh_from_db()
    assert finalize.status == ChainTx.Status.FINAL
    assert Order.objects.get(job=job).price == PRICE
    job.refresh_from_db()
    assert job.status == Job.Status.AWARDED


def test_a_reveal_sent_before_the_chains_clock_passes_the_bidding_deadline_still_counts(
    open_market: Callable[..., dict[str, Any]],
) -> None:
    market = open_market(shops=1)
    job = market["jobs"][0]
    [bid] = bid_and_relay(market, job, [PRICE])
    # given: past the bidding deadline on our clock, not yet in the chain's latest block
    Job.objects.filter(pk=job.pk).update(commit_deadline=timezone.now() - timedelta(seconds=1))
    # when: the shop reveals at once (as the CLI does), and the chain catches up
    token = market["tokens"][market["shops"][0].pk]
    assert api_post(token, reveal_url(job), reveal_body(bid)).status_code == 200
    drain()
    pass_deadline(market, job, "commit_deadline")
    drain()
    # then
    assert chain_reveal(job.pk, bid.shop)[0] == bid.price
