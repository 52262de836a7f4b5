"""Escrow end to end against a real anvil: the customer funds, accepts or disputes in the browser,
the arbiter resolves in the admin, the shop records delivery and withdraws through the API; every
money state comes from a final, indexed event (DESIGN.md section 3, steps 7 and 10)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import HTTPProvider

from ledger.anvil import rpc
from ledger.chain import arbiter_account, web3_client
from ledger.contracts import contract
from ledger.handlers import chain_event_revert
from ledger.models import ChainEvent, ChainTx
from ledger.services.indexer import chaintx_effects_pending, index_chain
from marketplace import selectors
from marketplace.models import CustomerWallet, Dispute, Job, Order, Organization, Payout, User
from marketplace.money_history import money_history
from marketplace.services.escrow import escrow_auto_release_due, escrow_fund
from marketplace.services.wallets import FAUCET_AMOUNT, own_wallet_message
from marketplace.tallies import shop_order_figures, shop_order_tallies_drift
from printfair.eip712 import Bid as SealedBid
from printfair.eip712 import new_salt
from printfair.withdrawals import sign_withdrawal
from printshops.models import Bid
from tests.scenarios import (
    PRICE_L,
    PRICE_W,
    awarded,
    bid_and_reveal,
    delivered,
    drain,
    finish_auction,
    funded,
    pass_deadline,
    pass_delivery_deadline,
    post,
    settle,
    state,
)

FEE = PRICE_W * 250 // 10_000


def test_fund_deliver_accept_and_the_shop_withdraws_through_the_api(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    browser = login(customer)
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="fund"' in page and "400.00 USD" in page

    # funding with an empty wallet is refused plainly
    assert "funding needs 400.00 USD" in post(browser, "order_fund", job)
    funded(job, browser)
    wallet = CustomerWallet.objects.get(organization=customer.organization)
    token = contract(web3_client(), "TestStablecoin")
    assert token.functions.balanceOf(wallet.address).call() == FAUCET_AMOUNT - PRICE_W
    assert Job.objects.get(pk=job.pk).status == Job.Status.FUNDED

    shop_api = api_client(winning_shop)
    # the losing shop has no order to deliver
    assert (
        api_client(losing_shop).post(reverse("api_order_delivered", args=[job.pk])).status_code
        == 404
    )
    delivered(job, shop_api)
    order = Order.objects.get(job=job)
    assert order.delivered_at is not None
    assert order.claim_deadline == order.delivered_at + timedelta(days=14)
    page = reverse("job_detail", args=[job.pk])
    assert "Accept or dispute until" in browser.get(page).content.decode()
    # accepting twice sends one call
    assert "Accepted" in post(browser, "order_accept", job)
    assert "Accepted" in post(browser, "order_accept", job)
    assert ChainTx.objects.filter(function="release").count() == 1
    settle()
    order.refresh_from_db()
    assert order.status == Order.Status.RELEASED
    assert (order.shop_amount, order.fee) == (Decimal(PRICE_W - FEE), Decimal(FEE))
    assert "Accept or dispute until" not in browser.get(page).content.decode()
    assert Job.objects.get(pk=job.pk).status == Job.Status.ACCEPTED

    # the shop's payout: signed with its own key, relayed by the operator
    payouts = shop_api.get(reverse("api_payouts")).json()
    account = market["keys"][winning_shop.pk]
    assert payouts["address"] == account.address
    assert payouts["pending"] == str(PRICE_W - FEE) and payouts["payouts"] == []
    deadline = int(timezone.now().timestamp()) + 600
    signature = sign_withdrawal(
        account.key, chain_id=31337, contract=market["house"], nonce=payouts["nonce"],
        deadline=deadline,
    )  # fmt: skip
    body = {"deadline": deadline, "signature": "0x" + signature.hex()}
    # another shop's key cannot withdraw it
    forged = sign_withdrawal(
        market["keys"][losing_shop.pk].key, chain_id=31337, contract=market["house"],
        nonce=payouts["nonce"], deadline=deadline,
    )  # fmt: skip
    refused = shop_api.post(
        reverse("api_payout_withdraw"),
        {**body, "signature": "0x" + forged.hex()},
        content_type="application/json",
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_signature"
    before = token.functions.balanceOf(account.address).call()
    response = shop_api.post(reverse("api_payout_withdraw"), body, content_type="application/json")
    assert response.status_code == 202, response.json()
    # mined, its Withdrawn event not indexed yet: the balance reads 0 and the payout is not made,
    # so the withdrawal shows as on its way (on the API and the shop's orders page)
    drain()
    between = shop_api.get(reverse("api_payouts")).json()
    assert between["pending"] == "0" and between["payouts"] == []
    [relay] = between["withdrawing"]
    assert (
        relay["status"] == "final"
        and relay["tx_hash"]
        == ChainTx.objects.get(idempotency_key__startswith="payout.withdraw:").tx_hash
    )
    orders = login(winning_shop).get(reverse("shop_orders")).content.decode()
    assert "Withdrawal on its way: final" in orders and "No payouts yet" not in orders
    settle()
    assert shop_api.get(reverse("api_payouts")).json()["withdrawing"] == []
    assert token.functions.balanceOf(account.address).call() == before + PRICE_W - FEE
    payout = Payout.objects.get(account=account.address)
    assert payout.organization == winning_shop.organization and payout.amount == PRICE_W - FEE
    after = shop_api.get(reverse("api_payouts")).json()
    assert after["pending"] == "0" and after["nonce"] == 1 and len(after["payouts"]) == 1

    # each organisation's money, movement by movement, from the final events
    history = [
        (m.what, m.job.pk if m.job else None, m.wallet, m.pending)
        for m in money_history(organization=customer.organization)  # type: ignore[arg-type]
    ]
    assert history == [
        ("Escrow funded", job.pk, -PRICE_W, 0),
        ("Test dollars from the faucet", None, FAUCET_AMOUNT, 0),
    ]
    history = [
        (m.what, m.job.pk if m.job else None, m.wallet, m.pending)
        # (the organisation read afresh, as a request reads it: its key registered since)
        for m in money_history(
            organization=Organization.objects.get(memberships__user=winning_shop)
        )
    ]
    assert history == [
        ("Withdrawn to your address", None, PRICE_W - FEE, -(PRICE_W - FEE)),
        ("Escrow released to you", job.pk, 0, PRICE_W - FEE),
    ]
    page = login(winning_shop).get(reverse("organization")).content.decode()
    assert page.count('data-what="') == 2 and "+390.00" in page and "-390.00" in page

    # every step is on the customer's page and the shop's orders page
    page = browser.get(reverse("job_order_panel", args=[job.pk])).content.decode()
    for event in ("AuctionFinalized", "EscrowFunded", "DeliveryRecorded", "EscrowReleased"):
        assert event in page
    assert "390.00 USD" in page
    shop_page = login(winning_shop).get(reverse("shop_orders")).content.decode()
    assert "Accepted, escrow released" in shop_page and "390.00" in shop_page


def test_a_dispute_is_resolved_by_the_arbiter_in_the_admin(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    admin_user: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    browser = login(customer)
    funded(job, browser)
    delivered(job, api_client(winning_shop))
    photo = SimpleUploadedFile("crack.jpg", b"\xff\xd8 a cracked bracket")
    # a dispute needs a statement
    assert "Say what is wrong" in post(browser, "order_dispute", job, statement=" ")
    response = browser.post(
        reverse("order_dispute", args=[job.pk]),
        {"statement": "Two brackets arrived cracked.", "evidence": [photo]},
        follow=True,
    )
    assert "Dispute sent" in response.content.decode()
    settle()
    assert state(job) == Order.Status.DISPUTED
    dispute = Dispute.objects.get(order__job=job)
    event = ChainEvent.objects.get(name="EscrowDisputed")
    assert event.args["evidenceHash"] == dispute.evidence_hash
    assert dispute.evidence_files[0]["name"] == "crack.jpg"

    admin = login(admin_user)
    order = Order.objects.get(job=job)
    change = admin.get(reverse("admin:marketplace_order_change", args=[order.pk])).content.decode()
    assert "Resolve dispute" in change
    resolve_url = reverse("admin:marketplace_order_resolve", args=[order.pk])
    page = admin.get(resolve_url).content.decode()
    assert "Two brackets arrived cracked." in page and dispute.evidence_hash in page
    assert "The shop reported no production or quality records." in page
    # the arbiter opens the customer's photo; nobody else gets it from the admin
    photo_url = reverse("admin:marketplace_order_dispute_evidence", args=[order.pk, 0])
    assert f'href="{photo_url}">crack.jpg</a>' in page
    opened = admin.get(photo_url)
    assert b"".join(opened.streaming_content) == b"\xff\xd8 a cracked bracket"
    assert opened["Content-Disposition"] == 'attachment; filename="crack.jpg"'
    assert (
        admin.get(
            reverse("admin:marketplace_order_dispute_evidence", args=[order.pk, 1])
        ).status_code
        == 404
    )
    assert browser.get(photo_url).status_code == 302  # to the admin's login
    # more than the price is refused
    too_much = admin.post(
        resolve_url, {"decision": "partial", "shop_amount": "401", "note": "x"}
    ).content.decode()
    assert "between 0 and the price" in too_much
    done = admin.post(resolve_url, {"decision": "partial", "shop_amount": "300", "note": "Half."})
    assert done.status_code == 302
    # sent with the arbiter's key: the relayer cannot resolve (the contract refuses it)
    assert ChainTx.objects.get(function="resolve").sender == arbiter_account().address
    settle()
    order.refresh_from_db()
    shop_gross = 300_000_000
    fee = shop_gross * 250 // 10_000
    assert order.status == Order.Status.RESOLVED
    amounts = (shop_gross - fee, fee, PRICE_W - shop_gross)
    assert (order.shop_amount, order.fee, order.customer_amount) == tuple(map(Decimal, amounts))
    # the customer withdraws its part to its wallet
    wallet = CustomerWallet.objects.get(organization=customer.organization)
    page = browser.get(reverse("organization")).content.decode()
    assert 'id="withdraw"' in page and "100.00 USD" in page
    assert "Withdrawal sent" in post(browser, "wallet_withdraw")
    settle()
    assert Payout.objects.get(account=wallet.address).amount == PRICE_W - shop_gross
    assert "Nothing is waiting" in post(browser, "wallet_withdraw")


def test_the_order_is_accepted_by_itself_when_the_claim_window_closes(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    funded(job, login(customer))
    delivered(job, api_client(winning_shop))
    assert escrow_auto_release_due() == 0, "not before the claim window closes"
    order = Order.objects.get(job=job)
    assert order.claim_deadline is not None
    Order.objects.filter(pk=order.pk).update(claim_deadline=timezone.now())
    rpc(market["url"], "evm_setNextBlockTimestamp", int(order.claim_deadline.timestamp()) + 1)
    rpc(market["url"], "evm_mine")
    assert escrow_auto_release_due() == 1
    settle()
    assert state(job) == Order.Status.RELEASED


def test_funding_asks_the_chain_before_it_locks_the_order(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A row lock held while the node is asked holds every writer behind a node that does not
    answer (STYLE.md 8a): the wallet's balance is read before the order is locked."""
    # given: an awarded order and a wallet with test dollars
    job = awarded(market, winning_shop, losing_shop, api_client)
    assert "test USD are on their way" in post(login(customer), "wallet_faucet")
    settle()
    outside = len(connection.atomic_blocks)  # the test's own transaction
    asked_inside: list[tuple[str, int]] = []
    ask = HTTPProvider.make_request

    def asking(provider: HTTPProvider, method: Any, params: Any) -> Any:
        asked_inside.append((str(method), len(connection.atomic_blocks) - outside))
        return ask(provider, method, params)

    monkeypatch.setattr(HTTPProvider, "make_request", asking)  # the network, spied on, not faked

    # when
    escrow_fund(actor=customer, job=job)

    # then: the node was asked, and never from inside the service's transaction
    assert asked_inside, "the balance is read from the chain"
    assert [depth for _, depth in asked_inside] == [0] * len(asked_inside), asked_inside
    assert ChainTx.objects.filter(function="fund").exists()


def test_the_order_panel_follows_a_funding_until_its_events_are_applied(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    """The sender marks a call final before the indexer applies its events: a panel that
    stopped polling on the sender's final kept showing 'Awarded, waiting for funding' (a CI
    browser test caught it between the sender's pass and the indexer's)."""
    # given: a funding the sender has seen final, not yet indexed
    job = awarded(market, winning_shop, losing_shop, api_client)
    browser = login(customer)
    post(browser, "wallet_faucet")
    settle()
    assert "Funding sent" in post(browser, "order_fund", job)
    drain()
    drain()
    assert set(selectors.job_chain_actions(job=job).values_list("status", flat=True)) == {"final"}
    panel = reverse("job_order_panel", args=[job.pk])

    # then: the panel still follows the chain
    page = browser.get(panel).content.decode()
    assert "Awarded, waiting for funding" in page and 'hx-trigger="every 3s"' in page

    # and shows the funding once the indexer applied it
    index_chain()
    assert "Funded, in production" in browser.get(panel).content.decode()
    assert not chaintx_effects_pending(list(selectors.job_chain_actions(job=job)))


def test_a_missed_delivery_deadline_lets_the_customer_claim_a_refund(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    browser = login(customer)
    funded(job, browser)
    assert "once the delivery deadline has passed" in post(browser, "order_claim_refund", job)
    order = Order.objects.get(job=job)
    pass_delivery_deadline(market, order)
    assert 'id="claim-refund"' in browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Refund claimed" in post(browser, "order_claim_refund", job)
    settle()
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.customer_amount == PRICE_W
    assert Job.objects.get(pk=job.pk).status == Job.Status.REFUNDED


def test_a_late_delivery_can_be_refused_and_refunded_and_a_reorg_undoes_the_refund(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    # given: a funded order whose delivery deadline passes before the shop marks it delivered
    job = awarded(market, winning_shop, losing_shop, api_client)
    browser = login(customer)
    funded(job, browser)
    order = Order.objects.get(job=job)
    pass_delivery_deadline(market, order)
    delivered(job, api_client(winning_shop))
    # when: the customer sees the late delivery and refuses it
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert 'id="delivered-late"' in page and 'id="claim-refund"' in page and 'id="accept"' in page
    assert "Refund claimed" in post(browser, "order_claim_refund", job)
    settle()
    # then: the whole price comes back
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED and order.customer_amount == PRICE_W
    missed = shop_order_figures([order.shop_id])[order.shop_id]
    assert (missed["delivered_late"], missed["refunded"]) == (1, 1)
    # and a reorg that removes the refund puts the order back where the delivery left it
    with transaction.atomic():
        chain_event_revert(event=ChainEvent.objects.get(name="EscrowRefunded"))
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.customer_amount is None
    assert Job.objects.get(pk=job.pk).status == Job.Status.DELIVERED
    # and the shop's figures with it: late, but not refunded
    assert shop_order_figures([order.shop_id])[order.shop_id]["refunded"] == 0
    assert shop_order_tallies_drift() == {}


def test_prices_show_ranked_only_after_the_reveal_deadline(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job: Job = market["jobs"][0]
    clients = [
        (losing_shop, api_client(losing_shop), PRICE_L),
        (winning_shop, api_client(winning_shop), PRICE_W),
    ]
    bid_and_reveal(market, clients, job)
    index_chain()
    browser = login(customer)
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "2 sealed bids received" in page and 'id="bids-sealed"' in page
    assert "400.00" not in page and "450.00" not in page
    finish_auction(market, job)
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "2 bids received, 2 revealed" in page and "sealed bids received" not in page
    ranked = page[page.index('id="bids-ranked"') :]
    assert ranked.index("400.00") < ranked.index("450.00")
    assert ranked.index(winning_shop.organization.name) < ranked.index(  # type: ignore[union-attr]
        losing_shop.organization.name  # type: ignore[union-attr]
    )
    assert "winner" in ranked
    # first price: the winner is paid its own bid; under the second-price rule the page says
    # what the price is
    assert 'id="order-price">400.00 USD</dd>' in page
    Job.objects.filter(pk=job.pk).update(pricing_rule=Job.PricingRule.SECOND_PRICE)
    page = browser.get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "(second price: the runner-up's bid; with a single valid bid, the winner's own)" in page


def test_a_commitment_made_directly_on_chain_is_picked_up(
    market: dict[str, Any], winning_shop: User
) -> None:
    job: Job = market["jobs"][0]
    account = market["keys"][winning_shop.pk]
    w3 = web3_client()
    rpc(market["url"], "anvil_setBalance", account.address, hex(10**18))
    bid = SealedBid(job.pk, account.address, PRICE_W, 7, new_salt())
    house = contract(w3, "AuctionHouse")
    tx = house.functions.commit(job.pk, bid.commitment(), 3).build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
    )
    signed = account.sign_transaction(tx)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    index_chain()
    stored = Bid.objects.get(job=job, organization=winning_shop.organization)
    assert stored.commitment == "0x" + bid.commitment().hex() and stored.version == 3
    # revealed on chain too: the customer's ranking shows it after the deadline
    pass_deadline(market, job, "commit_deadline")
    tx = house.functions.reveal(job.pk, account.address, PRICE_W, 7, bid.salt).build_transaction(
        {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)}
    )
    signed = account.sign_transaction(tx)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    index_chain()
    stored.refresh_from_db()
    assert stored.status == Bid.Status.REVEALED and stored.price == PRICE_W
    assert stored.reveal_event is not None


def test_a_customer_pays_from_its_own_address(
    market: dict[str, Any], other_customer: User, login: Callable[[User | None], Client]
) -> None:
    organization = other_customer.organization
    assert organization is not None
    browser = login(other_customer)
    own = Account.create()
    page = browser.get(reverse("organization"), {"own_address": own.address}).content.decode()
    message = own_wallet_message(organization=organization, address=own.address)
    assert message in page
    wrong = Account.create().sign_message(encode_defunct(text=message)).signature.hex()
    assert "not this address's signature" in post(
        browser, "wallet_register_own", address=own.address, signature=wrong
    )
    signature = own.sign_message(encode_defunct(text=message)).signature.hex()
    assert "now pays from its own address" in post(
        browser, "wallet_register_own", address=own.address, signature=signature
    )
    wallet = CustomerWallet.objects.get(organization=organization)
    assert wallet.address == own.address and not wallet.is_custodial
    # the market's customer already has auctions naming its address
    customer = market["jobs"][0].created_by
    refused = post(login(customer), "wallet_register_own", address=own.address, signature=signature)
    assert "only change before the first job is published" in refused


def test_a_reorg_moves_the_order_back_to_the_final_chains_state(
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    funded(job, login(customer))
    delivered(job, api_client(winning_shop))
    for name, before in (
        ("DeliveryRecorded", Order.Status.FUNDED),
        ("EscrowFunded", Order.Status.AWARDED),
    ):
        with transaction.atomic():
            chain_event_revert(event=ChainEvent.objects.get(name=name))
        order = Order.objects.get(job=job)
        assert order.status == before and Job.objects.get(pk=job.pk).status == before
    assert order.delivered_at is None and order.claim_deadline is None
