"""Shops register their Ethereum address and HPKE public key, proved by a signature."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import operator_account
from ledger.models import ChainTx
from marketplace.models import User
from printfair.keys import registration_message, sign_registration
from printshops.models import KeyChallenge, PrintShopProfile
from printshops.services import shop_unverify, shop_verify

ApiClient = Callable[[User], Client]
X25519_KEY = os.urandom(32)


def challenge(client: Client) -> dict[str, Any]:
    response = client.post(reverse("api_shop_key_challenge"))
    assert response.status_code == 201
    return dict(response.json())


def register(
    client: Client, account: LocalAccount, *, signer: LocalAccount | None = None, **changes: str
) -> Any:
    given = challenge(client)
    message = registration_message(
        shop_id=given["shop_id"],
        address=account.address,
        hpke_kem="x25519",
        hpke_public_key=X25519_KEY,
        challenge=given["challenge"],
    )
    body = {
        "challenge": given["challenge"],
        "address": account.address,
        "signature": "0x" + sign_registration((signer or account).key, message).hex(),
        "hpke_kem": "x25519",
        "hpke_public_key": base64.b64encode(X25519_KEY).decode(),
        **changes,
    }
    return client.put(reverse("api_shop_keys"), body, content_type="application/json")


def test_register_keys_with_a_signed_challenge(stranger: User, api_client: ApiClient) -> None:
    # given: a shop not verified yet (keys come before verification)
    client = api_client(stranger)
    account = Account.create()
    # when
    response = register(client, account)
    # then
    assert response.status_code == 200, response.json()
    assert response.json()["address"] == account.address
    profile = PrintShopProfile.objects.get(organization=stranger.organization)
    assert profile.eth_address == account.address
    assert bytes(profile.hpke_public_key or b"") == X25519_KEY
    assert client.get(reverse("api_shop_keys")).json()["hpke_public_key"] == (
        base64.b64encode(X25519_KEY).decode()
    )
    assert not ChainTx.objects.exists(), "not verified: nothing to register on chain yet"


def test_a_signature_by_another_key_is_refused(stranger: User, api_client: ApiClient) -> None:
    response = register(api_client(stranger), Account.create(), signer=Account.create())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_signature"


def test_a_challenge_works_once_and_not_after_it_expires(
    stranger: User, api_client: ApiClient
) -> None:
    client = api_client(stranger)
    account = Account.create()
    given = challenge(client)
    message = registration_message(
        shop_id=given["shop_id"], address=account.address, hpke_kem="x25519",
        hpke_public_key=X25519_KEY, challenge=given["challenge"],
    )  # fmt: skip
    body = {
        "challenge": given["challenge"],
        "address": account.address,
        "signature": "0x" + sign_registration(account.key, message).hex(),
        "hpke_kem": "x25519",
        "hpke_public_key": base64.b64encode(X25519_KEY).decode(),
    }
    url = reverse("api_shop_keys")
    assert client.put(url, body, content_type="application/json").status_code == 200
    again = client.put(url, body, content_type="application/json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "bad_challenge"
    from django.utils import timezone

    KeyChallenge.objects.update(used_at=None, expires_at=timezone.now())
    late = client.put(url, body, content_type="application/json")
    assert late.json()["error"]["code"] == "bad_challenge"


def test_another_shops_address_is_refused(
    winning_shop: User, losing_shop: User, api_client: ApiClient
) -> None:
    account = Account.create()
    assert register(api_client(winning_shop), account).status_code == 200
    response = register(api_client(losing_shop), account)
    assert response.status_code == 409


@pytest.mark.parametrize("role", ["operator", "treasury"])
def test_the_operators_or_treasurys_address_can_never_be_a_shops(
    stranger: User, api_client: ApiClient, settings: Any, role: str
) -> None:
    # The AuctionHouse refuses to verify it too (test_auction_house); here the shop is told
    # before anything reaches the chain.
    operator = operator_account()
    treasury = Account.create()
    settings.PRINTFAIR_TREASURY = treasury.address
    response = register(api_client(stranger), operator if role == "operator" else treasury)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "privileged_address"
    assert not PrintShopProfile.objects.get(organization=stranger.organization).eth_address


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hpke_kem": "rsa"}, "hpke_kem"),
        ({"hpke_public_key": "!!"}, "hpke_public_key"),
        ({"signature": "0x1234"}, "signature"),
    ],
)
def test_malformed_input_gets_field_errors(
    stranger: User, api_client: ApiClient, changes: dict[str, str], field: str
) -> None:
    response = register(api_client(stranger), Account.create(), signer=None, **changes)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_key_of_the_wrong_size_is_refused(stranger: User, api_client: ApiClient) -> None:
    response = register(
        api_client(stranger),
        Account.create(),
        hpke_public_key=base64.b64encode(b"short").decode(),
    )
    assert response.status_code == 400
    assert "32 bytes" in response.json()["error"]["message"]


def test_verifying_a_shop_registers_its_address_on_chain(
    stranger: User, admin_user: User, api_client: ApiClient
) -> None:
    account = Account.create()
    register(api_client(stranger), account)
    profile = PrintShopProfile.objects.get(organization=stranger.organization)
    shop_verify(actor=admin_user, profile=profile)
    shop_unverify(actor=admin_user, profile=profile)
    calls = list(ChainTx.objects.order_by("id").values_list("contract", "function", "args"))
    assert calls == [
        ("AuctionHouse", "setShopVerified", [account.address, True]),
        ("AuctionHouse", "setShopVerified", [account.address, False]),
    ]


def test_a_verified_shop_changing_its_address_moves_its_verification(
    winning_shop: User, api_client: ApiClient
) -> None:
    client = api_client(winning_shop)
    first, second = Account.create(), Account.create()
    register(client, first)
    register(client, second)
    calls = list(ChainTx.objects.order_by("id").values_list("args", flat=True))
    assert calls == [[first.address, True], [second.address, True], [first.address, False]]
