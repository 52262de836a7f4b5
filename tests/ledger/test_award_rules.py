"""The award's rules as the app lives them, on a real anvil (issue 16): an award left unfunded
past its funding window expires (the job fails, or passes to the runner-up when the customer
chose so), and cancelling a published job ends its auction on chain first. The contract's side
of each rule is in tests/ledger/test_auction_house.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import reverse

from ledger.anvil import rpc
from ledger.chain import web3_client
from ledger.contracts import load_artifact
from ledger.handlers import chain_event_revert, chain_events_dispatch
from ledger.models import ChainEvent, ChainTx
from marketplace.models import AuditEvent, Job, Order, User
from marketplace.services import (
    auctions_finalize_due,
    design_file_attach,
    job_cancel,
    job_cancel_by_operator,
    job_publish,
)
from marketplace.services.escrow import awards_expire_due
from marketplace.uploads import encrypt_chunks
from printfair.eip712 import Bid, new_salt
from tests import factories
from tests.scenarios import (
    PRICE_L,
    PRICE_W,
    auction_on_chain,
    awarded,
    bid_and_reveal,
    bids_url,
    drain,
    finish_auction,
    funded,
    pass_funding_deadline,
    post,
    sealed,
    settle,
)

CANCELLED_ON_CHAIN = 10


def test_an_award_left_unfunded_past_its_window_expires_and_the_job_fails(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    # given: an award, with the funding deadline the chain set
    job = awarded(market, winning_shop, losing_shop, api_client)
    order = Order.objects.get(job=job)
    assert order.funding_deadline is not None
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="funding-deadline"' in page
    # when: the customer lets the window pass
    pass_funding_deadline(market, job)
    browser = login(customer)
    # then: funding is refused with the reason (the contract would refuse it too)
    assert "The funding window closed" in post(browser, "order_fund", job)
    assert not ChainTx.objects.filter(function="fund").exists()
    # and beat's expiry ends the award on chain: the job failed, and says why
    assert awards_expire_due() == 1
    assert awards_expire_due() == 1  # asking again is the same call
    assert ChainTx.objects.filter(function="expireAward").count() == 1
    settle()
    order.refresh_from_db()
    assert (order.status, order.job.status) == (Order.Status.EXPIRED, Job.Status.FAILED)
    assert awards_expire_due() == 0
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Award expired unfunded" in page
    # and each shop reads what it came to
    assert outcomes(api_client, job, winning_shop, losing_shop) == ["award_expired", "failed"]


def test_an_expired_award_passes_to_the_runner_up_when_the_customer_chose_so(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
    testdata: Any,
) -> None:
    # given: a job whose customer chose to pass an unfunded award on, bid on by both shops
    job = factories.JobFactory.create(created_by=customer, award_passes_to_runner_up=True)
    data = (testdata / "stl" / "cube_binary.stl").read_bytes()
    design_file_attach(actor=customer, job=job, upload=encrypt_chunks("cube.stl", [data]))
    job = job_publish(actor=customer, job=job)
    drain()
    assert auction_on_chain(job.pk)["reawardToRunnerUp"] is True
    clients = [
        (winning_shop, api_client(winning_shop), PRICE_W),
        (losing_shop, api_client(losing_shop), PRICE_L),
    ]
    bid_and_reveal(market, clients, job)
    finish_auction(market, job)
    first_award = Order.objects.get(job=job).award_event_id
    # when: the winner's award expires unfunded
    pass_funding_deadline(market, job)
    assert awards_expire_due() == 1
    settle()
    # then: the order is the runner-up's, at its price, with a new funding window
    order = Order.objects.get(job=job)
    assert order.status == Order.Status.AWARDED
    assert order.shop == losing_shop.organization and order.price == PRICE_L
    assert order.award_event_id != first_award
    assert outcomes(api_client, job, winning_shop, losing_shop) == ["award_expired", "won"]
    # a reorg that removes the expiry (its events undone, latest first) gives the award back to
    # the winner; the same blocks coming back pass it on again
    passed_on = ChainEvent.objects.get(pk=order.award_event_id)
    expired = ChainEvent.objects.get(name="AwardExpired", args__jobId=str(job.pk))
    with transaction.atomic():
        chain_event_revert(event=passed_on)
    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED and order.shop == winning_shop.organization
    with transaction.atomic():
        chain_event_revert(event=expired)
    order.refresh_from_db()
    assert (order.status, order.award_event_id) == (Order.Status.AWARDED, first_award)
    assert Job.objects.get(pk=job.pk).status == Job.Status.AWARDED
    ChainEvent.objects.filter(pk__in=[expired.pk, passed_on.pk]).update(
        applied=False, removed=False
    )
    chain_events_dispatch(chain_id=31337)
    order.refresh_from_db()
    assert order.shop == losing_shop.organization and order.status == Order.Status.AWARDED
    assert AuditEvent.objects.filter(verb="job.award_passed_to_runner_up").exists()
    # and the customer funds it: the lead time counts from the funding
    funded(job, login(customer))
    order.refresh_from_db()
    on_chain = auction_on_chain(job.pk)
    assert order.delivery_deadline is not None
    assert int(order.delivery_deadline.timestamp()) == on_chain["deliveryDeadline"]
    assert on_chain["deliveryDeadline"] == on_chain["fundedAt"] + 10 * 86_400


def test_cancelling_a_published_job_ends_its_auction_on_chain(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = market["jobs"][1]
    browser = login(customer)
    # when: the customer cancels before any bid
    assert "Cancelling" in post(browser, "job_cancel", job)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLING
    # then: no shop can bid meanwhile
    _, body = sealed(market, winning_shop, job, PRICE_W)
    refused = api_client(winning_shop).post(bids_url(job), body, content_type="application/json")
    assert refused.status_code == 404
    # and once the chain has ended the auction, the job is cancelled
    settle()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert auction_on_chain(job.pk)["status"] == CANCELLED_ON_CHAIN
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Cancelled" in page
    # a reorg that removes the cancel leaves the job cancelling (the cancel is still queued)
    with transaction.atomic():
        chain_event_revert(event=ChainEvent.objects.get(name="AuctionCancelled"))
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLING


def outcomes(api_client: Callable[[User], Client], job: Job, *shops: User) -> list[str]:
    """What the bids API tells each shop its bid on `job` came to."""
    found = []
    for shop in shops:
        listed = api_client(shop).get(reverse("api_bids")).json()["results"]
        found.append(next(b["outcome"] for b in listed if b["job"] == job.pk))
    return found


def test_a_cancel_that_a_commitment_made_on_chain_beats_opens_the_job_again(
    market: dict[str, Any], customer: User, winning_shop: User, admin_user: User
) -> None:
    # given: a shop commits directly on chain (not through the API), unseen by the indexer yet
    job = market["jobs"][1]
    account = market["keys"][winning_shop.pk]
    w3 = web3_client()
    rpc(market["url"], "anvil_setBalance", account.address, hex(10**18))
    bid = Bid(job.pk, account.address, PRICE_W, 10, new_salt())
    house = w3.eth.contract(address=market["house"], abi=load_artifact("AuctionHouse").abi)
    tx = house.functions.commit(job.pk, bid.commitment(), 1).build_transaction(
        {"from": account.address, "nonce": 0, "chainId": 31337}
    )
    w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    # when: the customer cancels
    job_cancel(actor=customer, job=job)
    drain()
    # then: the chain refused the cancel, and the job opens again, saying why
    cancel = ChainTx.objects.get(function="cancelAuction")
    assert cancel.status == ChainTx.Status.FAILED and "NotCancellable" in cancel.error
    auctions_finalize_due()
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN
    assert AuditEvent.objects.filter(verb="job.cancel_refused").exists()
    # the operator can still cancel it: a new call, not the refused one again
    job_cancel_by_operator(actor=admin_user, job=job, reason="Bids on a withdrawn design.")
    drain()
    retried = ChainTx.objects.filter(function="cancelAuction").latest("id")
    assert retried.pk != cancel.pk and retried.status == ChainTx.Status.FINAL
    settle()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_the_operator_cancels_an_unfunded_award_with_its_reason(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    admin_user: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    # given: an award, not funded yet
    job = awarded(market, winning_shop, losing_shop, api_client)
    admin = login(admin_user)
    page = admin.get(f"/admin/marketplace/job/{job.pk}/change/").content.decode()
    assert "Cancel on chain" in page
    url = f"/admin/marketplace/job/{job.pk}/cancel-on-chain/"
    # a reason is required
    assert "This field is required" in admin.post(url, {"reason": ""}).content.decode()
    # when: the operator cancels it, saying why
    assert admin.post(url, {"reason": "The design infringes a patent."}).status_code == 302
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLING
    # meanwhile the customer cannot fund it
    assert "cancelling this job" in post(login(customer), "order_fund", job)
    # then: once final, the job and its award are cancelled, with the reason's hash on chain
    settle()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert Order.objects.get(job=job).status == Order.Status.CANCELLED
    assert auction_on_chain(job.pk)["status"] == CANCELLED_ON_CHAIN
    audit = AuditEvent.objects.get(verb="job.cancel_requested_by_operator")
    assert audit.data["reason"] == "The design infringes a patent."
    assert outcomes(api_client, job, winning_shop, losing_shop) == ["cancelled", "cancelled"]
    # and a customer cannot use the operator's page
    assert login(customer).post(url, {"reason": "x"}).status_code == 302  # to the admin login
    assert job.status == Job.Status.CANCELLED
