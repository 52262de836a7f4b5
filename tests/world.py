"""The world the access matrix and the admin's query counts try every page on (`world`): two
orders of the market's jobs won by the winning shop, one in production and one certified, an
open job, a draft, a pending sign-up, a reset link, an API key and a machine."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ledger.models import ChainEvent
from machines.models import MachineKey
from machines.services import machine_create
from marketplace.models import DesignFile, Job, Order, Organization, Payout, User
from marketplace.services import design_file_attach, job_publish
from marketplace.services.accounts import signup_start
from marketplace.uploads import encrypt_chunks
from printshops.models import Certificate, DesignRelease, EvidenceFile, PartRecord
from printshops.services import api_key_create
from tests import factories
from tests.scenarios import (
    PRICE_L,
    PRICE_W,
    bids_url,
    close_bidding,
    delivered,
    drain,
    finish_auction,
    funded,
    post,
    produce,
    real_release_key,
    sealed,
    settle,
)

# A PNG as PrintFair sniffs it (the signature; the rest is not looked at).
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _auctions_won_by_the_winning_shop(
    market: dict[str, Any],
    jobs: list[Job],
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    """Both shops bid on each of `jobs` (the winning shop the lower price), reveal, and the
    auctions are finalized. Every bid goes in before bidding closes on any job: the market's
    jobs close together, on chain too."""
    bids = []
    for job in jobs:
        for shop, price in ((winning_shop, PRICE_W), (losing_shop, PRICE_L)):
            bid, body = sealed(market, shop, job, price)
            sent = api_client(shop).post(bids_url(job), body, content_type="application/json")
            assert sent.status_code == 201, sent.json()
            bids.append((shop, job, bid))
    drain()
    for job in jobs:
        close_bidding(market, job)
    for shop, job, bid in bids:
        body = {
            "price": bid.price,
            "lead_time_days": bid.lead_time_days,
            "salt": "0x" + bid.salt.hex(),
        }
        revealed = api_client(shop).post(
            reverse("api_job_bid_reveal", args=[job.pk]), body, content_type="application/json"
        )
        assert revealed.status_code == 200, revealed.json()
    drain()
    for job in jobs:
        finish_auction(market, job)
        order = Order.objects.get(job=job)
        assert order.shop == winning_shop.organization and order.status == Order.Status.AWARDED


@pytest.fixture
def world(
    market: dict[str, Any],
    customer: User,
    other_customer: User,
    winning_shop: User,
    losing_shop: User,
    stranger: User,
    admin_user: User,
    api_client: Callable[[User], Client],
    login: Callable[[User | None], Client],
    testdata: Any,
    mailoutbox: list[EmailMessage],
) -> dict[str, Any]:
    """The cast, and something of each of them to try every route on:

    - the order: the market's first job, won by the winning shop over the losing shop, funded
      (its design released to the winning shop's key), in production: part P-1 printed,
      measured and shipped, with a photo as evidence;
    - the certificate: the market's second job, won the same way, funded, its part Q-1 made,
      delivered and accepted, so the part has its certificate;
    - an open job, another job of the customer's still a draft (each with a design file), a
      newcomer's pending sign-up, a colleague's password reset link and the winning shop's API
      key. The other customer, the stranger (an unverified shop) and the admin own nothing."""
    producing, accepted = market["jobs"]
    design = (testdata / "stl" / "star_binary.stl").read_bytes()
    open_job = factories.JobFactory.create(created_by=customer, title="Open bracket")
    design_file_attach(actor=customer, job=open_job, upload=encrypt_chunks("open.stl", [design]))
    job_publish(actor=customer, job=open_job)
    _auctions_won_by_the_winning_shop(
        market, [producing, accepted], winning_shop, losing_shop, api_client
    )
    real_release_key(winning_shop, market["keys"][winning_shop.pk])
    browser = login(customer)
    funded(producing, browser)
    assert "Funding sent" in post(browser, "order_fund", accepted)
    settle()
    shop = api_client(winning_shop)
    produce(shop, producing, "P-1")
    photo = shop.post(
        reverse("api_job_evidence", args=[producing.pk]),
        {"file": SimpleUploadedFile("layer.png", PNG)},
    )
    assert photo.status_code == 201, photo.json()
    produce(shop, accepted, "Q-1")
    delivered(accepted, shop)
    assert "Accepted" in post(browser, "order_accept", accepted)
    settle()
    assert Order.objects.get(job=accepted).status == Order.Status.RELEASED

    draft = factories.JobFactory.create(created_by=customer, title="Draft bracket")
    draft_file = design_file_attach(
        actor=customer, job=draft, upload=encrypt_chunks("draft.stl", [design])
    )
    signup_start(
        email="nina@newcomer.example", password=factories.PASSWORD, name="Nina",
        organization_name="Newcomer", kind=Organization.Kind.CUSTOMER, site="http://testserver",
    )  # fmt: skip
    (signup_token,) = re.findall(r"/signup/confirm/([^/\s]+)/", str(mailoutbox[-1].body))
    colleague = factories.MembershipFactory.create(
        user__email="carol@acme.example", organization=customer.organization
    ).user
    key, _ = api_key_create(actor=winning_shop, name="k", expires_at=None)
    machine = machine_create(
        actor=winning_shop, make="Prusa", model="MK4",
        process="fdm", build_x_mm=250, build_y_mm=210, build_z_mm=220, serial="SN-1",
    )  # fmt: skip
    machine_key = MachineKey.objects.create(machine=machine, address="0x" + "5a" * 20)
    order_file = DesignFile.objects.get(job=producing)
    assert DesignRelease.objects.filter(design_file=order_file, revoked_at=None).exists()
    # The winning shop's payout of the certified order (made in the database: its receipt reads
    # only the row and its event).
    winner = Organization.objects.get(memberships__user=winning_shop)  # (its key registered since)
    payout = Payout.objects.create(
        account=winner.shop_profile.eth_address, organization=winner, amount=390_000_000,
        event=ChainEvent.objects.create(
            chain_id=31337, block_number=10**9, block_hash="0x" + "7" * 64, log_index=0,
            tx_hash="0x" + "8" * 64, contract="AuctionHouse", address="0x" + "a" * 40,
            name="Withdrawn", args={"account": winner.shop_profile.eth_address,
                                    "amount": "390000000"}, applied=True,
        ),
    )  # fmt: skip
    return {
        "users": {
            "anonymous": None,
            "customer": customer,
            "other_customer": other_customer,
            "winning_shop": winning_shop,
            "losing_shop": losing_shop,
            "stranger": stranger,
            "admin": admin_user,
        },
        "order": producing,
        "order_file": order_file,
        "evidence": EvidenceFile.objects.get(order__job=producing),
        "record": PartRecord.objects.filter(order__job=producing).first(),
        "certified": accepted,
        "certificate": Certificate.objects.get(order__job=accepted, part_serial="Q-1"),
        "open": open_job,
        "draft": draft,
        "draft_file": draft_file,
        "signup_token": signup_token,
        "reset_link": [
            urlsafe_base64_encode(force_bytes(colleague.pk)),
            default_token_generator.make_token(colleague),
        ],
        "key": key,
        "machine": machine,
        "machine_key": machine_key,
        "payout": payout,
    }
