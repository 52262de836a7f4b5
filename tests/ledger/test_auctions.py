"""Publishing a job creates its auction on the AuctionHouse through the outbox, paid from the
customer organisation's custodial wallet."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from ledger.anvil import Anvil
from ledger.chain import web3_client
from ledger.contracts import contract
from ledger.models import ChainTx
from marketplace.models import CustomerWallet, User
from marketplace.records import job_spec_content
from marketplace.services import (
    customer_wallet_account,
    customer_wallet_for,
    design_file_attach,
    job_publish,
)
from marketplace.uploads import encrypt_chunks
from printfair.canonical import record_hash
from tests import factories
from tests.scenarios import drain


def test_publishing_creates_the_auction_on_chain(
    deployed: Anvil, customer: User, testdata: Any, login: Any, settings: Any
) -> None:
    job = factories.JobFactory.create(created_by=customer, pricing_rule="second_price")
    data = (testdata / "stl" / "star_binary.stl").read_bytes()
    design_file_attach(actor=customer, job=job, upload=encrypt_chunks("star.stl", [data]))
    job = job_publish(actor=customer, job=job)
    assert job.auction_tx is not None
    drain()
    assert ChainTx.objects.get(pk=job.auction_tx.pk).status == ChainTx.Status.FINAL
    house = contract(web3_client(), "AuctionHouse")
    outputs = house.get_function_by_name("auction").abi["outputs"][0]["components"]
    values = house.functions.auction(job.pk).call()
    auction = dict(zip([c["name"] for c in outputs], values, strict=True))
    wallet = CustomerWallet.objects.get(organization=job.organization)
    assert auction["customer"] == wallet.address
    # the chain's deadlines trail the API's by the relay margin
    margin = settings.CHAIN_RELAY_MARGIN
    assert margin > 0
    assert auction["commitDeadline"] == int(job.commit_deadline.timestamp()) + margin
    assert auction["revealDeadline"] == int(job.reveal_deadline.timestamp()) + margin
    assert auction["reservePrice"] == int(job.reserve_price * 10**6)
    assert auction["specHash"] == record_hash(job_spec_content(job))
    assert auction["pricingRule"] == 1
    auction_tx = ChainTx.objects.get(pk=job.auction_tx.pk)
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Auction on chain" in page and f"block {auction_tx.block_number}" in page


def test_the_custodial_wallet_key_is_kept_wrapped(customer: User) -> None:
    organization = customer.organization
    assert organization is not None
    wallet = customer_wallet_for(organization=organization)
    assert customer_wallet_for(organization=organization) == wallet, "one wallet per organisation"
    account = customer_wallet_account(wallet=wallet)
    assert account.address == wallet.address
    assert bytes(account.key) not in bytes(wallet.wrapped_key or b"")
    other = factories.customer("eve@other.example", "Other")
    assert other.organization is not None
    moved = CustomerWallet(
        organization=other.organization,
        address=wallet.address,
        wrapped_key=wallet.wrapped_key,
        kek_version=wallet.kek_version,
    )
    with pytest.raises(ValueError):  # bound to its organisation: useless elsewhere
        customer_wallet_account(wallet=moved)
