"""Sealed bids through the shop API, relayed to the real AuctionHouse and revealed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.anvil import Anvil, rpc
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import ChainTx
from ledger.services.sender import chaintx_process
from marketplace.models import Job, User
from marketplace.services import design_file_attach, job_publish
from marketplace.uploads import encrypt_chunks
from printfair.eip712 import Bid, new_salt, sign_sealed_bid
from printfair.keys import registration_message, sign_registration
from printshops.models import PrintShopProfile
from printshops.services import shop_key_challenge_create, shop_keys_register
from tests import factories

BIDDING_SECONDS = 60


def drain() -> None:
    for _ in range(4):
        chaintx_process()


def register_keys(
    shop: User, account: LocalAccount | None = None, hpke_key: bytes = b"\x07" * 32
) -> LocalAccount:
    """Register the shop's address (a new one unless `account` is given) and an X25519 release
    key (a placeholder unless `hpke_key` is given), as the API would."""
    account = account or Account.create()
    challenge = shop_key_challenge_create(actor=shop)
    message = registration_message(
        shop_id=challenge.organization_id, address=account.address, hpke_kem="x25519",
        hpke_public_key=hpke_key, challenge=challenge.challenge,
    )  # fmt: skip
    shop_keys_register(
        actor=shop, challenge=challenge.challenge, address=account.address,
        signature=sign_registration(account.key, message), hpke_kem="x25519",
        hpke_public_key=hpke_key,
    )  # fmt: skip
    return account


@pytest.fixture
def market(
    deployed: Anvil, customer: User, winning_shop: User, losing_shop: User, testdata: Any
) -> dict[str, Any]:
    keys = {
        winning_shop.pk: register_keys(winning_shop),
        losing_shop.pk: register_keys(losing_shop),
    }
    now = timezone.now()
    jobs = []
    for name in ("star_binary.stl", "cube_binary.stl"):
        job = factories.JobFactory.create(
            created_by=customer,
            commit_deadline=now + timedelta(seconds=BIDDING_SECONDS),
            reveal_deadline=now + timedelta(minutes=5),
        )
        data = (testdata / "stl" / name).read_bytes()
        design_file_attach(actor=customer, job=job, upload=encrypt_chunks(name, [data]))
        jobs.append(job_publish(actor=customer, job=job))
    drain()  # shops verified on chain, auctions created
    house = contract(web3_client(), "AuctionHouse").address
    return {"keys": keys, "jobs": jobs, "house": house, "url": deployed.url}


def sealed(
    market: dict[str, Any], shop: User, job: Job, price: int, version: int = 1
) -> tuple[Bid, dict[str, Any]]:
    account = market["keys"][shop.pk]
    bid = Bid(job.pk, account.address, price, 10, new_salt())
    signature = sign_sealed_bid(
        account.key, chain_id=31337, contract=market["house"], job_id=job.pk,
        commitment=bid.commitment(), version=version,
    )  # fmt: skip
    return bid, {
        "commitment": "0x" + bid.commitment().hex(),
        "version": version,
        "signature": "0x" + signature.hex(),
    }


def pass_deadline(market: dict[str, Any], job: Job, deadline: str) -> None:
    """Move past one of the job's deadlines, in the database and on the chain (where it trails
    by CHAIN_RELAY_MARGIN)."""
    # The deadline the AuctionHouse enforces: chain_commit_deadline or chain_reveal_deadline.
    chain_deadline = getattr(Job.objects.get(pk=job.pk), f"chain_{deadline}")
    assert chain_deadline is not None, "the auction is not queued"
    on_chain = int(chain_deadline.timestamp())
    Job.objects.filter(pk=job.pk).update(**{deadline: timezone.now() - timedelta(seconds=1)})
    latest = web3_client().eth.get_block("latest")["timestamp"]
    rpc(market["url"], "evm_setNextBlockTimestamp", max(latest, on_chain) + 1)
    rpc(market["url"], "evm_mine")


def close_bidding(market: dict[str, Any], job: Job) -> None:
    pass_deadline(market, job, "commit_deadline")


def bids_url(job: Job) -> str:
    return reverse("api_job_bids", args=[job.pk])


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
    house = contract(web3_client(), "AuctionHouse")
    for bid in (bid_w, bid_l):
        assert house.functions.bidOf(job.pk, bid.shop).call()[0] == bid.commitment()
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
    assert house.functions.bidOf(job.pk, bid_w.shop).call()[4] == bid_w.price


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
    house = contract(web3_client(), "AuctionHouse")
    assert house.functions.bidOf(job.pk, bid.shop).call()[0] == bid.commitment()
    # and the API takes no more bids
    _, later = sealed(market, winning_shop, job, 390_000_000, version=2)
    refused = client.post(bids_url(job), later, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bidding_closed"


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


def finish_auction(market: dict[str, Any], job: Job) -> None:
    """Past the reveal deadline (database and chain), finalize as beat would, and index."""
    from ledger.services.indexer import index_chain
    from marketplace.services import auctions_finalize_due

    pass_deadline(market, job, "reveal_deadline")
    assert auctions_finalize_due() >= 1
    drain()
    index_chain()


def bid_and_reveal(
    market: dict[str, Any], clients: list[tuple[User, Client, int]], job: Job
) -> None:
    bids = []
    for shop, client, price in clients:
        bid, body = sealed(market, shop, job, price)
        assert client.post(bids_url(job), body, content_type="application/json").status_code == 201
        bids.append((client, bid))
    drain()
    close_bidding(market, job)
    for client, bid in bids:
        body = {
            "price": bid.price,
            "lead_time_days": bid.lead_time_days,
            "salt": "0x" + bid.salt.hex(),
        }
        reveal = reverse("api_job_bid_reveal", args=[job.pk])
        assert client.post(reveal, body, content_type="application/json").status_code == 200
    drain()


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


def test_a_bid_takes_ten_sql_statements(
    market: dict[str, Any],
    winning_shop: User,
    api_client: Callable[[User], Client],
    django_assert_max_num_queries: Any,
) -> None:
    """The hot path of bench/bids.py: the key with its shop and member (1), the job lock, the
    AuctionHouse address, the shop's bid, the outbox row (insert, read back), the bid, the audit
    event (7), and the transaction's bounds (2; a savepoint here). Each statement costs about
    half a millisecond of ORM and round trip."""
    job = market["jobs"][0]
    client = api_client(winning_shop)
    client.get(reverse("api_bids"))  # the key's last use is recorded once a minute
    _, body = sealed(market, winning_shop, job, 400_000_000)
    with django_assert_max_num_queries(10):
        response = client.post(bids_url(job), body, content_type="application/json")
    assert response.status_code == 201
