"""Sealed bids typed and signed by printfair.eip712 and by a real external client (ethers.js)
are accepted by the AuctionHouse that deploy_contracts deploys, and reveal against it; an
ethers-signed bid also goes through the shop API."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger.anvil import Anvil
from ledger.chain import operator_account, web3_client
from ledger.contracts import contract
from marketplace.models import User
from printfair.eip712 import Bid, new_salt, sign_sealed_bid
from tests.scenarios import bids_url, chain_bid, chain_reveal, close_bidding, drain

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node") or "node"
JOB_ID = 42


def transact(w3: Web3, call: Any, sender: LocalAccount) -> Any:
    tx = call.build_transaction(
        {"from": sender.address, "nonce": w3.eth.get_transaction_count(sender.address)}
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    )
    assert receipt["status"] == 1
    return receipt


def ethers_sign(shop: LocalAccount, auction_house: str, bid: Bid, version: int) -> bytes:
    case = {
        "privateKey": shop.key.to_0x_hex(),
        "chainId": "31337",
        "contract": auction_house,
        "jobId": str(bid.job_id),
        "price": str(bid.price),
        "leadTimeDays": str(bid.lead_time_days),
        "salt": "0x" + bid.salt.hex(),
        "version": str(version),
    }
    result = subprocess.run(  # noqa: S603
        [NODE, "tests/printfair/eip712_interop.mjs", json.dumps({"sign": [case], "verify": []})],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    [signed] = json.loads(result.stdout)["sign"]
    assert signed["commitment"] == "0x" + bid.commitment().hex()
    return bytes.fromhex(signed["signature"][2:])


def test_bids_signed_by_ethers_and_by_printfair_commit_and_reveal(deployed: Anvil) -> None:
    w3 = web3_client()
    house = contract(w3, "AuctionHouse")
    operator = operator_account()
    shops = [Account.create(), Account.create()]
    for shop in shops:
        transact(w3, house.functions.setShopVerified(shop.address, True), operator)
    now = w3.eth.get_block("latest")["timestamp"]
    transact(
        w3,
        house.functions.createAuction(
            JOB_ID,
            operator.address,
            now + 100,
            now + 200,
            10_000_000,
            b"\x01" * 32,
            0,
            30,
            3600,
            False,
        ),
        operator,
    )
    bids = [
        Bid(JOB_ID, shop.address, 5_000_000 + i, 7 + i, new_salt()) for i, shop in enumerate(shops)
    ]
    signatures = [
        ethers_sign(shops[0], house.address, bids[0], version=1),
        sign_sealed_bid(
            shops[1].key, chain_id=31337, contract=house.address, job_id=JOB_ID,
            commitment=bids[1].commitment(), version=1,
        ),
    ]  # fmt: skip
    # when: the platform relays both (anyone may; the signatures authorise them)
    for bid, signature in zip(bids, signatures, strict=True):
        transact(
            w3,
            house.functions.commitFor(JOB_ID, bid.shop, bid.commitment(), 1, signature),
            operator,
        )
    # then: both reveal against their commitments, and the lower price wins
    w3.provider.make_request("evm_increaseTime", [101])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    for bid in bids:
        transact(
            w3,
            house.functions.reveal(JOB_ID, bid.shop, bid.price, bid.lead_time_days, bid.salt),
            operator,
        )
    w3.provider.make_request("evm_increaseTime", [100])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    transact(w3, house.functions.finalize(JOB_ID), operator)
    outputs = house.get_function_by_name("auction").abi["outputs"][0]["components"]
    values = house.functions.auction(JOB_ID).call()
    auction = dict(zip([c["name"] for c in outputs], values, strict=True))
    assert (auction["winner"], auction["price"]) == (shops[0].address, bids[0].price)


def test_a_bid_signed_by_ethers_is_accepted_by_the_api_and_the_contract(
    market: dict[str, Any], winning_shop: User, api_client: Callable[[User], Client]
) -> None:
    job = market["jobs"][0]
    shop = market["keys"][winning_shop.pk]
    bid = Bid(job.pk, shop.address, 123_000_000, 9, new_salt())
    signature = ethers_sign(shop, market["house"], bid, 1)
    client = api_client(winning_shop)
    body = {
        "commitment": "0x" + bid.commitment().hex(),
        "version": 1,
        "signature": "0x" + signature.hex(),
    }
    response = client.post(bids_url(job), body, content_type="application/json")
    assert response.status_code == 201, response.json()
    drain()
    assert chain_bid(job.pk, shop.address)["commitment"] == bid.commitment()[:28]
    close_bidding(market, job)
    reveal = {"price": bid.price, "lead_time_days": 9, "salt": "0x" + bid.salt.hex()}
    url = reverse("api_job_bid_reveal", args=[job.pk])
    assert client.post(url, reveal, content_type="application/json").status_code == 200
    drain()
    assert chain_reveal(job.pk, shop.address) == (bid.price, 9)
