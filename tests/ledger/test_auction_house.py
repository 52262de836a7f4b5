"""AuctionHouse on a real anvil: shop registry, sealed-bid reverse auctions (direct, relayed and
batched commits with EIP-712 signatures, reveal, finalize), escrow in the test stablecoin with
release, auto-accept, disputes, refunds, fees and pull payments, and every refusal.

The contract is deployed here from its build artifact (deployment is integrated elsewhere)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import pytest
from django.conf import settings
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.anvil import Anvil, rpc
from ledger.chain import operator_account, web3_client
from ledger.contracts import BUILD_DIR, CustomError, decode_custom_error
from printfair.eip712 import recover_withdrawal_signer, sign_withdrawal

# The longest lead time the test auctions allow.
MAX_LEAD_DAYS = 60
OPERATOR_ROLE = keccak(text="OPERATOR_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
FEE_BPS = 250
CLAIM_WINDOW = 14 * 24 * 3600
DAY = 24 * 3600
USD = 10**6  # the test stablecoin has six decimals
RESERVE = 1_000 * USD
FIRST_PRICE, SECOND_PRICE = 0, 1
COMMIT_PHASE, REVEAL_PHASE = 1_000, 1_000
SPEC = keccak(text="job spec")

# Kept local and exactly as DESIGN.md section 3 specifies, so that printfair/eip712.py (written
# separately) must agree with it.
SEALED_BID_TYPES = {
    "SealedBid": [
        {"name": "jobId", "type": "uint256"},
        {"name": "shop", "type": "address"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "version", "type": "uint64"},
    ]
}

AUCTION_FIELDS = (
    "status",
    "pricingRule",
    "commitDeadline",
    "revealDeadline",
    "deliveryDeadline",
    "commitCount",
    "customer",
    "deliveredAt",
    "winner",
    "leadTimeDays",
    "fundedAt",
    "reservePrice",
    "price",
    "specHash",
    "bestShop",
    "bestSequence",
    "maxLeadTimeDays",
    "bestPrice",
    "secondPrice",
)
BID_FIELDS = ("commitment", "version", "sequence", "leadTimeDays", "price")


class Status(IntEnum):
    NONE = 0
    OPEN = 1
    FAILED = 2
    AWARDED = 3
    FUNDED = 4
    DELIVERED = 5
    DISPUTED = 6
    RELEASED = 7
    RESOLVED = 8
    REFUNDED = 9


def load(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads((BUILD_DIR / f"{name}.json").read_text()))


def dev_account(index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    return cast(
        LocalAccount,
        Account.from_mnemonic(settings.CHAIN_DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"),
    )


def salt_of(job: int, shop: str, tag: str = "") -> bytes:
    return keccak(text=f"salt {job} {shop} {tag}")


def commitment_of(job: int, shop: str, price: int, lead: int, salt: bytes) -> bytes:
    return keccak(
        abi_encode(
            ["uint256", "address", "uint256", "uint32", "bytes32"], [job, shop, price, lead, salt]
        )
    )


@dataclass(frozen=True)
class House:
    w3: Web3
    url: str
    house: Contract
    token: Contract
    operator: ChecksumAddress
    customer: ChecksumAddress
    other_customer: ChecksumAddress
    shops: tuple[LocalAccount, ...]
    stranger: LocalAccount
    treasury: ChecksumAddress

    # --- plumbing ---

    def send(self, function: ContractFunction, sender: str | None = None) -> TxReceipt:
        tx_hash = function.transact({"from": sender or self.operator})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def refusal(self, function: ContractFunction, sender: str | None = None) -> CustomError:
        """The custom error that an eth_call of `function` (at the latest block) reverts with;
        also checks that it really reverts when mined."""
        with pytest.raises(ContractCustomError) as info:
            function.call({"from": sender or self.operator})
        error = decode_custom_error("AuctionHouse", str(info.value.data))
        assert error is not None, f"not an AuctionHouse error: {info.value.data}"
        return error

    def events(self, name: str, receipt: TxReceipt) -> list[Any]:
        """The house's `name` events in `receipt` (the token's own logs are skipped)."""
        return list(getattr(self.house.events, name)().process_receipt(receipt, errors=DISCARD))

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def warp(self, timestamp: int) -> None:
        """Mines a block at exactly `timestamp`: calls then see it, and the next transaction
        mines a second or so later."""
        rpc(self.url, "evm_setNextBlockTimestamp", timestamp)
        rpc(self.url, "evm_mine")

    def travel(self, seconds: int) -> None:
        rpc(self.url, "evm_increaseTime", seconds)
        rpc(self.url, "evm_mine")

    def auction(self, job: int) -> dict[str, Any]:
        return dict(zip(AUCTION_FIELDS, self.house.functions.auction(job).call(), strict=True))

    def bid(self, job: int, shop: str) -> dict[str, Any]:
        return dict(zip(BID_FIELDS, self.house.functions.bidOf(job, shop).call(), strict=True))

    def pending(self, account: str) -> int:
        return int(self.house.functions.pendingWithdrawal(account).call())

    def balance(self, account: str) -> int:
        return int(self.token.functions.balanceOf(account).call())

    # --- EIP-712 ---

    def domain(self) -> dict[str, Any]:
        return {
            "name": "PrintFair AuctionHouse",
            "version": "1",
            "chainId": self.w3.eth.chain_id,
            "verifyingContract": self.house.address,
        }

    def sign(
        self, signer: LocalAccount, job: int, shop: str, commitment: bytes, version: int
    ) -> bytes:
        message = {"jobId": job, "shop": shop, "commitment": commitment, "version": version}
        signed = signer.sign_typed_data(
            domain_data=self.domain(), message_types=SEALED_BID_TYPES, message_data=message
        )
        return bytes(signed.signature)

    # --- the auction, step by step ---

    def create(
        self,
        job: int,
        *,
        rule: int = FIRST_PRICE,
        reserve: int = RESERVE,
        max_lead: int = MAX_LEAD_DAYS,
    ) -> TxReceipt:
        commit_deadline = self.now() + COMMIT_PHASE
        return self.send(
            self.house.functions.createAuction(
                job,
                self.customer,
                commit_deadline,
                commit_deadline + REVEAL_PHASE,
                reserve,
                SPEC,
                rule,
                max_lead,
            )
        )

    def commit(
        self, job: int, shop: LocalAccount, price: int, lead: int = 10, *, version: int = 1
    ) -> TxReceipt:
        salt = salt_of(job, shop.address, str(version))
        commitment = commitment_of(job, shop.address, price, lead, salt)
        return self.send(self.house.functions.commit(job, commitment, version), shop.address)

    def reveal(
        self, job: int, shop: LocalAccount, price: int, lead: int = 10, *, version: int = 1
    ) -> TxReceipt:
        salt = salt_of(job, shop.address, str(version))
        return self.send(
            self.house.functions.reveal(job, shop.address, price, lead, salt),
            self.stranger.address,
        )

    def to_reveal_phase(self, job: int) -> None:
        self.warp(self.auction(job)["commitDeadline"])

    def to_end_of_reveal(self, job: int) -> None:
        self.warp(self.auction(job)["revealDeadline"])

    def finalize(self, job: int) -> TxReceipt:
        return self.send(self.house.functions.finalize(job), self.stranger.address)

    def awarded(
        self, job: int, bids: list[tuple[LocalAccount, int, int]], *, rule: int = FIRST_PRICE
    ) -> None:
        self.create(job, rule=rule)
        for shop, price, lead in bids:
            self.commit(job, shop, price, lead)
        self.to_reveal_phase(job)
        for shop, price, lead in bids:
            self.reveal(job, shop, price, lead)
        self.to_end_of_reveal(job)
        self.finalize(job)

    def fund(self, job: int) -> TxReceipt:
        price = self.auction(job)["price"]
        self.send(self.token.functions.approve(self.house.address, price), self.customer)
        return self.send(self.house.functions.fund(job), self.customer)

    def delivered(self, job: int, bids: list[tuple[LocalAccount, int, int]]) -> None:
        self.awarded(job, bids)
        self.fund(job)
        self.send(self.house.functions.markDelivered(job))


@pytest.fixture
def ah(chain: Anvil) -> House:
    w3 = web3_client()
    operator = operator_account()
    accounts = [dev_account(i) for i in range(1, 8)]
    customer, other_customer, shop_a, shop_b, shop_c, stranger, treasury = accounts

    def deploy(name: str, *args: object) -> Contract:
        artifact = load(name)
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor(*args).transact({"from": operator.address})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        address = receipt["contractAddress"]
        assert address is not None
        return w3.eth.contract(address=address, abi=artifact["abi"])

    token = deploy("TestStablecoin", operator.address, operator.address)
    house = deploy(
        "AuctionHouse", operator.address, operator.address, token.address, treasury.address, FEE_BPS
    )
    ah = House(
        w3=w3,
        url=chain.url,
        house=house,
        token=token,
        operator=operator.address,
        customer=customer.address,
        other_customer=other_customer.address,
        shops=(shop_a, shop_b, shop_c),
        stranger=stranger,
        treasury=treasury.address,
    )
    for shop in ah.shops:
        ah.send(house.functions.setShopVerified(shop.address, True))
    for who in (customer.address, other_customer.address):
        ah.send(token.functions.mint(who, 100_000 * USD))
    return ah


def deploy_refusal(ah: House, *args: object) -> CustomError:
    artifact = load("AuctionHouse")
    factory = ah.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    with pytest.raises(ContractCustomError) as info:
        factory.constructor(*args).estimate_gas({"from": ah.operator})
    error = decode_custom_error("AuctionHouse", str(info.value.data))
    assert error is not None
    return error


# --- deployment and roles -------------------------------------------------------------------


def test_constructor_grants_roles_and_fixes_the_terms(ah: House) -> None:
    f = ah.house.functions
    assert f.hasRole(DEFAULT_ADMIN_ROLE, ah.operator).call()
    assert f.hasRole(OPERATOR_ROLE, ah.operator).call()
    assert f.hasRole(ARBITER_ROLE, ah.operator).call()
    assert not f.hasRole(OPERATOR_ROLE, ah.stranger.address).call()
    assert f.settlementToken().call() == ah.token.address
    assert f.treasury().call() == ah.treasury
    assert f.feeBps().call() == FEE_BPS
    assert f.CLAIM_WINDOW().call() == CLAIM_WINDOW


IAUCTION_HOUSE_FUNCTIONS = (
    "setShopVerified(address,bool)",
    "isVerifiedShop(address)",
    "createAuction(uint256,address,uint64,uint64,uint256,bytes32,uint8,uint32)",
    "commit(uint256,bytes32,uint64)",
    "commitFor(uint256,address,bytes32,uint64,bytes)",
    "commitMany(uint256[],address[],bytes32[],uint64[],bytes[])",
    "reveal(uint256,address,uint256,uint32,bytes32)",
    "finalize(uint256)",
    "fund(uint256)",
    "markDelivered(uint256)",
    "release(uint256)",
    "dispute(uint256,bytes32)",
    "resolve(uint256,uint256)",
    "claimRefund(uint256)",
    "withdraw()",
    "withdrawFor(address,uint256,bytes)",
    "auction(uint256)",
    "bidOf(uint256,address)",
    "pendingWithdrawal(address)",
    "sealedBidDigest(uint256,address,bytes32,uint64)",
    "withdrawalDigest(address,uint256,uint256)",
)


def test_supports_its_interface_and_access_control(ah: House) -> None:
    interface_id = 0
    for signature in IAUCTION_HOUSE_FUNCTIONS:
        interface_id ^= int.from_bytes(function_signature_to_4byte_selector(signature))
    f = ah.house.functions
    assert f.supportsInterface(interface_id.to_bytes(4)).call()
    assert f.supportsInterface(bytes.fromhex("7965db0b")).call()  # IAccessControl
    assert not f.supportsInterface(bytes.fromhex("ffffffff")).call()


@pytest.mark.parametrize(
    ("index", "value", "expected"),
    [
        (0, ZERO_ADDRESS, CustomError("ZeroAddress", {"what": "admin"})),
        (1, ZERO_ADDRESS, CustomError("ZeroAddress", {"what": "operator"})),
        (2, ZERO_ADDRESS, CustomError("ZeroAddress", {"what": "settlementToken"})),
        (3, ZERO_ADDRESS, CustomError("ZeroAddress", {"what": "treasury"})),
        (4, 10_001, CustomError("InvalidFeeBps", {"feeBps": 10_001})),
    ],
)
def test_constructor_refuses_zero_addresses_and_a_fee_over_100_percent(
    ah: House, index: int, value: object, expected: CustomError
) -> None:
    args: list[object] = [ah.operator, ah.operator, ah.token.address, ah.treasury, FEE_BPS]
    args[index] = value
    assert deploy_refusal(ah, *args) == expected


# --- shop registry --------------------------------------------------------------------------


def test_operator_verifies_and_unverifies_shops(ah: House) -> None:
    shop = ah.stranger.address
    assert not ah.house.functions.isVerifiedShop(shop).call()
    receipt = ah.send(ah.house.functions.setShopVerified(shop, True))
    assert ah.house.functions.isVerifiedShop(shop).call()
    (event,) = ah.events("ShopVerificationChanged", receipt)
    assert event["args"] == {"shop": shop, "verified": True}
    ah.send(ah.house.functions.setShopVerified(shop, False))
    assert not ah.house.functions.isVerifiedShop(shop).call()


def test_only_the_operator_verifies_shops(ah: House) -> None:
    error = ah.refusal(
        ah.house.functions.setShopVerified(ah.stranger.address, True), ah.stranger.address
    )
    assert error == CustomError(
        "AccessControlUnauthorizedAccount",
        {"account": ah.stranger.address, "neededRole": OPERATOR_ROLE},
    )
    assert ah.refusal(ah.house.functions.setShopVerified(ZERO_ADDRESS, True)) == CustomError(
        "ZeroAddress", {"what": "shop"}
    )


# --- createAuction --------------------------------------------------------------------------


def test_create_auction_stores_it_and_emits_auction_created(ah: House) -> None:
    receipt = ah.create(7, rule=SECOND_PRICE)
    a = ah.auction(7)
    assert a["status"] == Status.OPEN
    assert a["pricingRule"] == SECOND_PRICE
    assert a["customer"] == ah.customer
    assert a["reservePrice"] == RESERVE
    assert a["specHash"] == SPEC
    assert a["revealDeadline"] - a["commitDeadline"] == REVEAL_PHASE
    assert a["winner"] == ZERO_ADDRESS
    (event,) = ah.events("AuctionCreated", receipt)
    assert event["args"] == {
        "jobId": 7,
        "customer": ah.customer,
        "commitDeadline": a["commitDeadline"],
        "revealDeadline": a["revealDeadline"],
        "reservePrice": RESERVE,
        "specHash": SPEC,
        "pricingRule": SECOND_PRICE,
        "maxLeadTimeDays": MAX_LEAD_DAYS,
    }
    assert a["maxLeadTimeDays"] == MAX_LEAD_DAYS
    assert ah.auction(8)["status"] == Status.NONE


def test_create_auction_refusals(ah: House) -> None:
    now = ah.now()
    f = ah.house.functions

    def create(
        job: int = 1,
        customer: str = ah.customer,
        commit: int = now + 100,
        reveal: int = now + 200,
        reserve: int = RESERVE,
        rule: int = 0,
        max_lead: int = MAX_LEAD_DAYS,
    ) -> ContractFunction:
        return f.createAuction(job, customer, commit, reveal, reserve, SPEC, rule, max_lead)

    assert ah.refusal(create(), ah.stranger.address) == CustomError(
        "AccessControlUnauthorizedAccount",
        {"account": ah.stranger.address, "neededRole": OPERATOR_ROLE},
    )
    assert ah.refusal(create(customer=ZERO_ADDRESS)) == CustomError(
        "ZeroAddress", {"what": "customer"}
    )
    # the call runs at the latest block's timestamp
    assert ah.refusal(create(commit=now, reveal=now + 200)) == CustomError(
        "InvalidDeadlines", {"commitDeadline": now, "revealDeadline": now + 200, "timestamp": now}
    )
    assert ah.refusal(create(reveal=now + 100)).name == "InvalidDeadlines"
    assert ah.refusal(create(reveal=now + 50)).name == "InvalidDeadlines"
    assert ah.refusal(create(reserve=0)) == CustomError("InvalidReservePrice", {"reservePrice": 0})
    assert ah.refusal(create(reserve=2**128)) == CustomError(
        "InvalidReservePrice", {"reservePrice": 2**128}
    )
    assert ah.refusal(create(rule=2)) == CustomError("InvalidPricingRule", {"pricingRule": 2})
    assert ah.refusal(create(max_lead=0)) == CustomError(
        "InvalidMaxLeadTime", {"maxLeadTimeDays": 0}
    )
    ah.send(create())
    assert ah.refusal(create()) == CustomError("AuctionAlreadyExists", {"jobId": 1})


# --- commit ---------------------------------------------------------------------------------


def test_commit_records_the_bid_and_a_newer_version_replaces_it(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    ah.create(1)
    receipt = ah.commit(1, shop_a, 500 * USD)
    first = ah.bid(1, shop_a.address)
    (event,) = ah.events("BidCommitted", receipt)
    assert event["args"] == {
        "jobId": 1,
        "shop": shop_a.address,
        "commitment": first["commitment"],
        "version": 1,
    }
    assert first["version"] == 1
    assert first["sequence"] == 1
    assert first["price"] == 0
    ah.commit(1, shop_b, 400 * USD)
    # shop A replaces its bid: new commitment and version, same place in the tie-break order
    ah.commit(1, shop_a, 450 * USD, version=5)
    replaced = ah.bid(1, shop_a.address)
    assert replaced["version"] == 5
    assert replaced["commitment"] != first["commitment"]
    assert replaced["sequence"] == 1
    assert ah.bid(1, shop_b.address)["sequence"] == 2
    assert ah.auction(1)["commitCount"] == 2


def test_commit_refuses_a_version_that_is_not_newer(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    commitment = keccak(text="c")
    assert ah.refusal(ah.house.functions.commit(1, commitment, 0), shop.address) == CustomError(
        "StaleBidVersion", {"jobId": 1, "shop": shop.address, "version": 0, "current": 0}
    )
    ah.commit(1, shop, 500 * USD, version=3)
    for version in (3, 2):
        error = ah.refusal(ah.house.functions.commit(1, commitment, version), shop.address)
        assert error == CustomError(
            "StaleBidVersion",
            {"jobId": 1, "shop": shop.address, "version": version, "current": 3},
        )


def test_commit_refusals(ah: House) -> None:
    shop = ah.shops[0]
    c = keccak(text="c")
    f = ah.house.functions
    assert ah.refusal(f.commit(99, c, 1), shop.address) == CustomError(
        "AuctionNotFound", {"jobId": 99}
    )
    ah.create(1)
    assert ah.refusal(f.commit(1, c, 1), ah.stranger.address) == CustomError(
        "ShopNotVerified", {"shop": ah.stranger.address}
    )
    assert ah.refusal(f.commit(1, b"\x00" * 32, 1), shop.address) == CustomError(
        "ZeroCommitment", {"jobId": 1, "shop": shop.address}
    )
    # a shop whose verification was withdrawn cannot bid any more
    ah.send(f.setShopVerified(shop.address, False))
    assert ah.refusal(f.commit(1, c, 1), shop.address).name == "ShopNotVerified"
    ah.send(f.setShopVerified(shop.address, True))
    deadline = ah.auction(1)["commitDeadline"]
    ah.warp(deadline - 5)
    ah.send(f.commit(1, c, 1), shop.address)
    ah.warp(deadline)
    assert ah.refusal(f.commit(1, c, 2), shop.address) == CustomError(
        "CommitPhaseOver", {"jobId": 1, "commitDeadline": deadline}
    )


# --- commitFor and EIP-712 ------------------------------------------------------------------


def test_sealed_bid_digest_matches_eth_account_typed_data(ah: House) -> None:
    shop = ah.shops[0].address
    commitment = keccak(text="c")
    message = {"jobId": 42, "shop": shop, "commitment": commitment, "version": 3}
    signable = encode_typed_data(
        domain_data=ah.domain(), message_types=SEALED_BID_TYPES, message_data=message
    )
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert ah.house.functions.sealedBidDigest(42, shop, commitment, 3).call() == digest
    assert ah.house.functions.DOMAIN_SEPARATOR().call() == signable.header
    domain = ah.house.functions.eip712Domain().call()
    assert domain[1:5] == ["PrintFair AuctionHouse", "1", ah.w3.eth.chain_id, ah.house.address]


def test_commit_for_relays_a_signed_bid(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    commitment = commitment_of(1, shop.address, 500 * USD, 10, salt_of(1, shop.address))
    signature = ah.sign(shop, 1, shop.address, commitment, 1)
    receipt = ah.send(
        ah.house.functions.commitFor(1, shop.address, commitment, 1, signature),
        ah.stranger.address,
    )
    (event,) = ah.events("BidCommitted", receipt)
    assert event["args"]["shop"] == shop.address
    bid = ah.bid(1, shop.address)
    assert (bid["commitment"], bid["version"], bid["sequence"]) == (commitment, 1, 1)


def test_commit_for_refuses_signatures_bound_to_another_job_shop_or_commitment(
    ah: House,
) -> None:
    shop_a, shop_b, _ = ah.shops
    ah.create(1)
    ah.create(2)
    f = ah.house.functions
    commitment = keccak(text="c")
    signature = ah.sign(shop_a, 1, shop_a.address, commitment, 1)
    # the same signature replayed on another job
    assert ah.refusal(f.commitFor(2, shop_a.address, commitment, 1, signature)) == CustomError(
        "InvalidBidSignature", {"jobId": 2, "shop": shop_a.address}
    )
    # ... or for another shop
    assert ah.refusal(f.commitFor(1, shop_b.address, commitment, 1, signature)) == CustomError(
        "InvalidBidSignature", {"jobId": 1, "shop": shop_b.address}
    )
    # ... or with another commitment or version
    other = keccak(text="other")
    assert ah.refusal(f.commitFor(1, shop_a.address, other, 1, signature)).name == (
        "InvalidBidSignature"
    )
    assert ah.refusal(f.commitFor(1, shop_a.address, commitment, 2, signature)).name == (
        "InvalidBidSignature"
    )
    # a shop's message signed by someone else (here shop B signing as shop A)
    forged = ah.sign(shop_b, 1, shop_a.address, commitment, 1)
    assert ah.refusal(f.commitFor(1, shop_a.address, commitment, 1, forged)).name == (
        "InvalidBidSignature"
    )
    # a malformed signature is refused the same way, not with an ECDSA error
    assert ah.refusal(f.commitFor(1, shop_a.address, commitment, 1, b"\x01" * 10)).name == (
        "InvalidBidSignature"
    )


def test_commit_for_refuses_a_replayed_older_signature(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    f = ah.house.functions
    old, new = keccak(text="old"), keccak(text="new")
    old_signature = ah.sign(shop, 1, shop.address, old, 1)
    ah.send(f.commitFor(1, shop.address, old, 1, old_signature))
    ah.send(f.commitFor(1, shop.address, new, 2, ah.sign(shop, 1, shop.address, new, 2)))
    assert ah.refusal(f.commitFor(1, shop.address, old, 1, old_signature)) == CustomError(
        "StaleBidVersion", {"jobId": 1, "shop": shop.address, "version": 1, "current": 2}
    )
    assert ah.bid(1, shop.address)["commitment"] == new


def test_commit_for_refuses_an_unverified_shop_even_with_a_valid_signature(ah: House) -> None:
    ah.create(1)
    c = keccak(text="c")
    signature = ah.sign(ah.stranger, 1, ah.stranger.address, c, 1)
    error = ah.refusal(ah.house.functions.commitFor(1, ah.stranger.address, c, 1, signature))
    assert error == CustomError("ShopNotVerified", {"shop": ah.stranger.address})


# Hand-assembled ERC-1271 wallets (no Solidity source of their own): the runtime of the first
# returns the magic value 0x1626ba7e for any hash and signature, of the second 32 zero bytes.
ACCEPTING_WALLET_RUNTIME = "631626ba7e60e01b60005260206000f3"
REJECTING_WALLET_RUNTIME = "60206000f3"


def deploy_runtime(ah: House, runtime: str) -> ChecksumAddress:
    size = len(runtime) // 2
    # PUSHn runtime, PUSH1 0, MSTORE, PUSH1 size, PUSH1 32-size, RETURN
    init = f"{0x5F + size:02x}{runtime}60005260{size:02x}60{32 - size:02x}f3"
    tx_hash = ah.w3.eth.send_transaction({"from": ah.operator, "data": bytes.fromhex(init)})
    address = ah.w3.eth.wait_for_transaction_receipt(tx_hash)["contractAddress"]
    assert address is not None
    assert ah.w3.eth.get_code(address).hex() == runtime
    return address


def test_commit_for_accepts_erc1271_contract_wallets(ah: House) -> None:
    accepting = deploy_runtime(ah, ACCEPTING_WALLET_RUNTIME)
    rejecting = deploy_runtime(ah, REJECTING_WALLET_RUNTIME)
    f = ah.house.functions
    ah.create(1)
    c = keccak(text="c")
    for wallet in (accepting, rejecting):
        ah.send(f.setShopVerified(wallet, True))
    ah.send(f.commitFor(1, accepting, c, 1, b"wallet-specific"))
    assert ah.bid(1, accepting)["commitment"] == c
    assert ah.refusal(f.commitFor(1, rejecting, c, 1, b"wallet-specific")) == CustomError(
        "InvalidBidSignature", {"jobId": 1, "shop": rejecting}
    )


def test_commit_many_relays_a_batch_and_refuses_mismatched_arrays(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    ah.create(1)
    ah.create(2)
    rows = [(1, shop_a), (1, shop_b), (2, shop_a)]
    commitments = [keccak(text=f"c{i}") for i in range(3)]
    signatures = [
        ah.sign(shop, job, shop.address, c, 1)
        for (job, shop), c in zip(rows, commitments, strict=True)
    ]
    jobs = [job for job, _ in rows]
    shops = [shop.address for _, shop in rows]
    f = ah.house.functions
    assert ah.refusal(f.commitMany(jobs, shops, commitments, [1, 1], signatures)) == CustomError(
        "LengthMismatch",
        {"jobIds": 3, "shops": 3, "commitments": 3, "versions": 2, "signatures": 3},
    )
    # one bad signature refuses the whole batch
    bad = [*signatures[:2], signatures[0]]
    assert ah.refusal(f.commitMany(jobs, shops, commitments, [1, 1, 1], bad)) == CustomError(
        "InvalidBidSignature", {"jobId": 2, "shop": shop_a.address}
    )
    receipt = ah.send(f.commitMany(jobs, shops, commitments, [1, 1, 1], signatures))
    assert len(ah.events("BidCommitted", receipt)) == 3
    assert ah.bid(1, shop_b.address)["commitment"] == commitments[1]
    assert ah.bid(2, shop_a.address)["commitment"] == commitments[2]
    assert ah.auction(1)["commitCount"] == 2


# --- reveal ---------------------------------------------------------------------------------


def test_reveal_by_anyone_records_the_bid_and_emits_bid_revealed(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 500 * USD, 12)
    ah.to_reveal_phase(1)
    receipt = ah.reveal(1, shop, 500 * USD, 12)
    (event,) = ah.events("BidRevealed", receipt)
    assert event["args"] == {
        "jobId": 1,
        "shop": shop.address,
        "price": 500 * USD,
        "leadTimeDays": 12,
    }
    bid = ah.bid(1, shop.address)
    assert (bid["price"], bid["leadTimeDays"]) == (500 * USD, 12)
    a = ah.auction(1)
    assert (a["bestShop"], a["bestPrice"], a["secondPrice"]) == (shop.address, 500 * USD, 0)


def test_reveal_refuses_a_preimage_that_does_not_match(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    ah.create(1)
    ah.commit(1, shop_a, 500 * USD, 12)
    ah.to_reveal_phase(1)
    expected = ah.bid(1, shop_a.address)["commitment"]
    salt = salt_of(1, shop_a.address, "1")
    f = ah.house.functions
    for price, lead, s in ((499 * USD, 12, salt), (500 * USD, 13, salt), (500 * USD, 12, SPEC)):
        error = ah.refusal(f.reveal(1, shop_a.address, price, lead, s))
        assert error == CustomError(
            "CommitmentMismatch",
            {
                "jobId": 1,
                "shop": shop_a.address,
                "expected": expected,
                "computed": commitment_of(1, shop_a.address, price, lead, s),
            },
        )
    # a shop without a bid
    assert ah.refusal(f.reveal(1, shop_b.address, 500 * USD, 12, salt)) == CustomError(
        "BidNotFound", {"jobId": 1, "shop": shop_b.address}
    )
    assert ah.refusal(f.reveal(9, shop_b.address, 500 * USD, 12, salt)) == CustomError(
        "AuctionNotFound", {"jobId": 9}
    )


def test_reveal_only_in_the_reveal_phase_and_only_once(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 500 * USD)
    a = ah.auction(1)
    reveal = ah.house.functions.reveal(
        1, shop.address, 500 * USD, 10, salt_of(1, shop.address, "1")
    )
    ah.warp(a["commitDeadline"] - 1)
    assert ah.refusal(reveal) == CustomError(
        "OutsideRevealPhase",
        {
            "jobId": 1,
            "commitDeadline": a["commitDeadline"],
            "revealDeadline": a["revealDeadline"],
            "timestamp": a["commitDeadline"] - 1,
        },
    )
    ah.warp(a["commitDeadline"])
    reveal.call()  # the reveal phase starts at the commit deadline
    ah.send(reveal)
    assert ah.refusal(reveal) == CustomError(
        "BidAlreadyRevealed", {"jobId": 1, "shop": shop.address}
    )
    ah.warp(a["revealDeadline"])
    assert ah.refusal(reveal).name == "OutsideRevealPhase"


def test_reveal_refuses_a_zero_price(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 0)
    ah.to_reveal_phase(1)
    salt = salt_of(1, shop.address, "1")
    assert ah.refusal(ah.house.functions.reveal(1, shop.address, 0, 10, salt)) == CustomError(
        "InvalidBidPrice", {"jobId": 1, "shop": shop.address, "price": 0}
    )


@pytest.mark.parametrize("lead", [0, MAX_LEAD_DAYS + 1, 2**32 - 1])
def test_reveal_refuses_a_lead_time_under_a_day_or_over_the_jobs_longest(
    ah: House, lead: int
) -> None:
    # Zero: the customer could fund and claim a refund a second after finalize. 2^32 - 1 days
    # with the lowest price: the escrow locked until the shop chose to deliver.
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 100 * USD, lead)
    ah.to_reveal_phase(1)
    salt = salt_of(1, shop.address, "1")
    attempt = ah.house.functions.reveal(1, shop.address, 100 * USD, lead, salt)
    assert ah.refusal(attempt, ah.stranger.address) == CustomError(
        "InvalidLeadTime",
        {"jobId": 1, "shop": shop.address, "leadTimeDays": lead, "maxLeadTimeDays": MAX_LEAD_DAYS},
    )
    # the bounds themselves are fine
    for index, fine in enumerate((1, MAX_LEAD_DAYS), start=1):
        other = ah.shops[index]
        ah.create(1 + index)
        ah.commit(1 + index, other, 100 * USD, fine)
        ah.to_reveal_phase(1 + index)
        ah.reveal(1 + index, other, 100 * USD, fine)


def test_only_the_live_commitment_can_be_revealed(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 500 * USD, version=1)
    ah.commit(1, shop, 450 * USD, version=2)
    ah.to_reveal_phase(1)
    old = ah.house.functions.reveal(1, shop.address, 500 * USD, 10, salt_of(1, shop.address, "1"))
    assert ah.refusal(old).name == "CommitmentMismatch"
    ah.reveal(1, shop, 450 * USD, version=2)
    assert ah.bid(1, shop.address)["price"] == 450 * USD


# --- finalize -------------------------------------------------------------------------------


def test_finalize_only_after_the_reveal_deadline_and_only_once(ah: House) -> None:
    shop = ah.shops[0]
    ah.create(1)
    ah.commit(1, shop, 500 * USD)
    ah.to_reveal_phase(1)
    ah.reveal(1, shop, 500 * USD)
    deadline = ah.auction(1)["revealDeadline"]
    ah.warp(deadline - 1)
    assert ah.refusal(ah.house.functions.finalize(1)) == CustomError(
        "RevealPhaseNotOver", {"jobId": 1, "revealDeadline": deadline}
    )
    ah.warp(deadline)
    ah.finalize(1)
    assert ah.refusal(ah.house.functions.finalize(1)) == CustomError(
        "UnexpectedStatus",
        {"jobId": 1, "actual": Status.AWARDED, "expected": Status.OPEN},
    )
    assert ah.refusal(ah.house.functions.finalize(2)) == CustomError(
        "AuctionNotFound", {"jobId": 2}
    )


def test_first_price_pays_the_lowest_bid(ah: House) -> None:
    shop_a, shop_b, shop_c = ah.shops
    ah.create(1)
    bids = [(shop_a, 700 * USD, 5), (shop_b, 400 * USD, 20), (shop_c, 600 * USD, 7)]
    for shop, price, lead in bids:
        ah.commit(1, shop, price, lead)
    ah.to_reveal_phase(1)
    for shop, price, lead in bids:
        ah.reveal(1, shop, price, lead)
    ah.to_end_of_reveal(1)
    receipt = ah.finalize(1)
    (event,) = ah.events("AuctionFinalized", receipt)
    assert event["args"] == {
        "jobId": 1,
        "winner": shop_b.address,
        "price": 400 * USD,
        "leadTimeDays": 20,
    }
    a = ah.auction(1)
    assert a["status"] == Status.AWARDED
    assert (a["winner"], a["price"], a["leadTimeDays"]) == (shop_b.address, 400 * USD, 20)
    assert a["deliveryDeadline"] == a["revealDeadline"] + 20 * DAY
    assert a["secondPrice"] == 600 * USD


def test_second_price_pays_the_runner_up_price(ah: House) -> None:
    shop_a, shop_b, shop_c = ah.shops
    ah.awarded(1, [(shop_a, 700 * USD, 5), (shop_b, 400 * USD, 20), (shop_c, 600 * USD, 7)], rule=1)
    a = ah.auction(1)
    assert (a["winner"], a["price"], a["leadTimeDays"]) == (shop_b.address, 600 * USD, 20)


def test_second_price_with_one_valid_bid_pays_the_winner_its_own_bid(ah: House) -> None:
    # the bid above the reserve is revealed but is no runner-up
    shop_a, shop_b, _ = ah.shops
    ah.awarded(1, [(shop_a, 800 * USD, 5), (shop_b, RESERVE + 1, 3)], rule=SECOND_PRICE)
    a = ah.auction(1)
    assert (a["winner"], a["price"]) == (shop_a.address, 800 * USD)
    assert ah.bid(1, shop_b.address)["price"] == RESERVE + 1


def test_a_bid_at_the_reserve_can_win(ah: House) -> None:
    ah.awarded(1, [(ah.shops[0], RESERVE, 5)])
    assert ah.auction(1)["price"] == RESERVE


def test_all_bids_above_the_reserve_fail_the_auction(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    ah.create(1)
    for shop in (shop_a, shop_b):
        ah.commit(1, shop, RESERVE + 1)
    ah.to_reveal_phase(1)
    for shop in (shop_a, shop_b):
        ah.reveal(1, shop, RESERVE + 1)
    ah.to_end_of_reveal(1)
    receipt = ah.finalize(1)
    (event,) = ah.events("AuctionFailed", receipt)
    assert event["args"] == {"jobId": 1}
    a = ah.auction(1)
    assert (a["status"], a["winner"], a["price"]) == (Status.FAILED, ZERO_ADDRESS, 0)
    assert ah.refusal(ah.house.functions.fund(1), ah.customer) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.FAILED, "expected": Status.AWARDED}
    )


def test_a_shop_unverified_after_committing_cannot_reveal_and_the_next_bid_wins(
    ah: House,
) -> None:
    # given: the lowest bid's shop loses its verification during the auction
    cheap, dear = ah.shops[0], ah.shops[1]
    ah.create(1)
    ah.commit(1, cheap, 400 * USD)
    ah.commit(1, dear, 450 * USD)
    ah.send(ah.house.functions.setShopVerified(cheap.address, False))
    ah.to_reveal_phase(1)
    # when: anyone holding its preimage tries to reveal it
    salt = salt_of(1, cheap.address, "1")
    attempt = ah.house.functions.reveal(1, cheap.address, 400 * USD, 10, salt)
    # then: refused, and the auction goes to the verified shop's bid
    assert ah.refusal(attempt, ah.stranger.address) == CustomError(
        "ShopNotVerified", {"shop": cheap.address}
    )
    ah.reveal(1, dear, 450 * USD)
    ah.to_end_of_reveal(1)
    ah.finalize(1)
    assert (ah.auction(1)["winner"], ah.auction(1)["price"]) == (dear.address, 450 * USD)


def test_the_operator_arbiter_admin_and_treasury_can_never_be_shops(ah: House) -> None:
    # The operator (here also admin and arbiter) could otherwise bid, win, mark its own delivery
    # and resolve the dispute in its own favour; the treasury is paid every fee.
    for account in (ah.operator, ah.treasury):
        verify = ah.house.functions.setShopVerified(account, True)
        assert ah.refusal(verify) == CustomError(
            "PrivilegedAccountCannotBeShop", {"account": account}
        )
    # a verified shop granted a role stops being a shop, and can no longer bid
    shop = ah.shops[2]
    receipt = ah.send(ah.house.functions.grantRole(ARBITER_ROLE, shop.address))
    (event,) = ah.events("ShopVerificationChanged", receipt)
    assert event["args"] == {"shop": shop.address, "verified": False}
    assert not ah.house.functions.isVerifiedShop(shop.address).call()
    ah.create(1)
    commitment = commitment_of(1, shop.address, 400 * USD, 10, salt_of(1, shop.address))
    assert ah.refusal(ah.house.functions.commit(1, commitment, 1), shop.address) == CustomError(
        "ShopNotVerified", {"shop": shop.address}
    )
    assert ah.refusal(ah.house.functions.setShopVerified(shop.address, True)) == CustomError(
        "PrivilegedAccountCannotBeShop", {"account": shop.address}
    )
    # withdrawing a verification stays possible for anyone
    ah.send(ah.house.functions.setShopVerified(ah.operator, False))


def test_an_auction_without_revealed_bids_fails(ah: House) -> None:
    ah.create(1)
    ah.commit(1, ah.shops[0], 500 * USD)  # committed, never revealed
    ah.to_end_of_reveal(1)
    ah.finalize(1)
    assert ah.auction(1)["status"] == Status.FAILED


def test_ties_go_to_the_earliest_first_commit(ah: House) -> None:
    shop_a, shop_b, shop_c = ah.shops
    ah.create(1)
    ah.commit(1, shop_a, 500 * USD, 9)  # first commit
    ah.commit(1, shop_b, 500 * USD, 4)
    ah.commit(1, shop_c, 500 * USD, 6)
    # shop A replaces its bid after the others, keeping its place
    ah.commit(1, shop_a, 500 * USD, 8, version=2)
    ah.to_reveal_phase(1)
    ah.reveal(1, shop_c, 500 * USD, 6)
    ah.reveal(1, shop_b, 500 * USD, 4)
    ah.reveal(1, shop_a, 500 * USD, 8, version=2)  # revealed last
    ah.to_end_of_reveal(1)
    ah.finalize(1)
    a = ah.auction(1)
    assert (a["winner"], a["price"], a["leadTimeDays"]) == (shop_a.address, 500 * USD, 8)
    assert a["secondPrice"] == 500 * USD


# --- escrow ---------------------------------------------------------------------------------


def test_fund_moves_the_price_into_escrow(ah: House) -> None:
    ah.awarded(1, [(ah.shops[0], 400 * USD, 5)])
    before = ah.balance(ah.customer)
    receipt = ah.fund(1)
    (event,) = ah.events("EscrowFunded", receipt)
    assert event["args"] == {"jobId": 1, "amount": 400 * USD}
    assert ah.balance(ah.customer) == before - 400 * USD
    assert ah.balance(ah.house.address) == 400 * USD
    a = ah.auction(1)
    assert a["status"] == Status.FUNDED
    assert a["fundedAt"] == ah.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def test_fund_refusals(ah: House) -> None:
    f = ah.house.functions
    ah.create(1)
    assert ah.refusal(f.fund(1), ah.customer) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.OPEN, "expected": Status.AWARDED}
    )
    ah.commit(1, ah.shops[0], 400 * USD)
    ah.to_reveal_phase(1)
    ah.reveal(1, ah.shops[0], 400 * USD)
    ah.to_end_of_reveal(1)
    ah.finalize(1)
    assert ah.refusal(f.fund(1), ah.other_customer) == CustomError(
        "NotCustomer", {"jobId": 1, "caller": ah.other_customer}
    )
    # without an allowance the token refuses (its own error)
    with pytest.raises(ContractCustomError):
        f.fund(1).call({"from": ah.customer})
    ah.fund(1)
    assert ah.refusal(f.fund(1), ah.customer) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.FUNDED, "expected": Status.AWARDED}
    )


def test_a_token_that_takes_a_fee_on_transfer_cannot_fund_one_job_from_anothers_escrow(
    ah: House,
) -> None:
    # given: job 1 funded in full, then the token starts burning 1% of every transfer
    ah.awarded(1, [(ah.shops[0], 400 * USD, 5)])
    ah.fund(1)
    ah.awarded(2, [(ah.shops[1], 300 * USD, 5)])
    ah.send(ah.token.functions.setTransferFee(100))
    price = ah.auction(2)["price"]
    ah.send(ah.token.functions.approve(ah.house.address, price), ah.customer)
    # when: job 2's customer funds, the escrow would receive 297 for a 300 price
    refusal = ah.refusal(ah.house.functions.fund(2), ah.customer)
    # then: refused as a whole; job 2 stays awarded and job 1's escrow is untouched
    assert refusal == CustomError(
        "TokenMovedLess", {"jobId": 2, "amount": 300 * USD, "received": 297 * USD}
    )
    assert ah.auction(2)["status"] == Status.AWARDED
    assert ah.balance(ah.house.address) == 400 * USD


def test_mark_delivered_by_the_winner_or_operator_opens_the_claim_window(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    f = ah.house.functions
    ah.awarded(1, [(shop_a, 400 * USD, 5), (shop_b, 500 * USD, 5)])
    assert ah.refusal(f.markDelivered(1), shop_a.address) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.AWARDED, "expected": Status.FUNDED}
    )
    ah.fund(1)
    for caller in (shop_b.address, ah.customer, ah.stranger.address):
        assert ah.refusal(f.markDelivered(1), caller) == CustomError(
            "NotOperatorOrWinner", {"jobId": 1, "caller": caller}
        )
    receipt = ah.send(f.markDelivered(1), shop_a.address)
    delivered_at = ah.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    (event,) = ah.events("DeliveryRecorded", receipt)
    assert event["args"] == {
        "jobId": 1,
        "deliveredAt": delivered_at,
        "claimDeadline": delivered_at + CLAIM_WINDOW,
    }
    assert ah.auction(1)["status"] == Status.DELIVERED
    assert ah.auction(1)["deliveredAt"] == delivered_at
    # the operator may record it too, but only once
    assert ah.refusal(f.markDelivered(1)).name == "UnexpectedStatus"


def test_customer_accepts_and_shop_and_treasury_withdraw(ah: House) -> None:
    shop = ah.shops[0]
    ah.delivered(1, [(shop, 400 * USD, 5)])
    receipt = ah.send(ah.house.functions.release(1), ah.customer)
    fee = 400 * USD * FEE_BPS // 10_000
    (event,) = ah.events("EscrowReleased", receipt)
    assert event["args"] == {"jobId": 1, "shopAmount": 400 * USD - fee, "fee": fee}
    assert fee == 10 * USD
    assert ah.auction(1)["status"] == Status.RELEASED
    assert ah.pending(shop.address) == 390 * USD
    assert ah.pending(ah.treasury) == 10 * USD
    for account, amount in ((shop.address, 390 * USD), (ah.treasury, 10 * USD)):
        before = ah.balance(account)
        receipt = ah.send(ah.house.functions.withdraw(), account)
        (event,) = ah.events("Withdrawn", receipt)
        assert event["args"] == {"account": account, "amount": amount}
        assert ah.balance(account) == before + amount
        assert ah.pending(account) == 0
    assert ah.balance(ah.house.address) == 0
    assert ah.refusal(ah.house.functions.release(1), ah.customer) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.RELEASED, "expected": Status.DELIVERED}
    )


def test_anyone_releases_after_an_undisputed_claim_window(ah: House) -> None:
    shop = ah.shops[0]
    ah.delivered(1, [(shop, 400 * USD, 5)])
    claim_deadline = ah.auction(1)["deliveredAt"] + CLAIM_WINDOW
    release = ah.house.functions.release(1)
    ah.warp(claim_deadline - 1)
    assert ah.refusal(release, ah.stranger.address) == CustomError(
        "ClaimWindowOpen", {"jobId": 1, "claimDeadline": claim_deadline}
    )
    ah.warp(claim_deadline)
    ah.send(release, ah.stranger.address)
    assert ah.pending(shop.address) == 390 * USD
    assert ah.pending(ah.treasury) == 10 * USD


def test_release_before_delivery_is_refused(ah: House) -> None:
    ah.awarded(1, [(ah.shops[0], 400 * USD, 5)])
    ah.fund(1)
    assert ah.refusal(ah.house.functions.release(1), ah.customer) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.FUNDED, "expected": Status.DELIVERED}
    )


def test_dispute_within_the_claim_window_blocks_release(ah: House) -> None:
    ah.delivered(1, [(ah.shops[0], 400 * USD, 5)])
    f = ah.house.functions
    evidence = keccak(text="photos of warped parts")
    assert ah.refusal(f.dispute(1, evidence), ah.shops[0].address) == CustomError(
        "NotCustomer", {"jobId": 1, "caller": ah.shops[0].address}
    )
    receipt = ah.send(f.dispute(1, evidence), ah.customer)
    (event,) = ah.events("EscrowDisputed", receipt)
    assert event["args"] == {"jobId": 1, "evidenceHash": evidence}
    assert ah.auction(1)["status"] == Status.DISPUTED
    ah.travel(CLAIM_WINDOW + 1)
    assert ah.refusal(f.release(1), ah.stranger.address) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.DISPUTED, "expected": Status.DELIVERED}
    )
    assert ah.refusal(f.dispute(1, evidence), ah.customer).name == "UnexpectedStatus"


def test_dispute_after_the_claim_window_is_refused(ah: House) -> None:
    ah.delivered(1, [(ah.shops[0], 400 * USD, 5)])
    claim_deadline = ah.auction(1)["deliveredAt"] + CLAIM_WINDOW
    ah.warp(claim_deadline)
    assert ah.refusal(ah.house.functions.dispute(1, SPEC), ah.customer) == CustomError(
        "ClaimWindowClosed", {"jobId": 1, "claimDeadline": claim_deadline}
    )


@pytest.mark.parametrize(
    ("shop_amount", "shop_gets", "fee", "customer_gets"),
    [
        (400 * USD, 390 * USD, 10 * USD, 0),  # full release
        (100 * USD, 97_500_000, 2_500_000, 300 * USD),  # partial: fee only on the shop's part
        (0, 0, 0, 400 * USD),  # refund
    ],
    ids=["full", "partial", "refund"],
)
def test_arbiter_resolves_a_dispute(
    ah: House, shop_amount: int, shop_gets: int, fee: int, customer_gets: int
) -> None:
    shop = ah.shops[0]
    ah.delivered(1, [(shop, 400 * USD, 5)])
    ah.send(ah.house.functions.dispute(1, SPEC), ah.customer)
    customer_before = ah.balance(ah.customer)
    receipt = ah.send(ah.house.functions.resolve(1, shop_amount))
    (event,) = ah.events("DisputeResolved", receipt)
    assert event["args"] == {
        "jobId": 1,
        "shopAmount": shop_amount,
        "fee": fee,
        "customerAmount": customer_gets,
    }
    assert ah.auction(1)["status"] == Status.RESOLVED
    assert ah.pending(shop.address) == shop_gets
    assert ah.pending(ah.treasury) == fee
    assert ah.pending(ah.customer) == customer_gets
    if customer_gets:
        ah.send(ah.house.functions.withdraw(), ah.customer)
        assert ah.balance(ah.customer) == customer_before + customer_gets


def test_resolve_refusals(ah: House) -> None:
    ah.delivered(1, [(ah.shops[0], 400 * USD, 5)])
    f = ah.house.functions
    assert ah.refusal(f.resolve(1, 0)) == CustomError(
        "UnexpectedStatus", {"jobId": 1, "actual": Status.DELIVERED, "expected": Status.DISPUTED}
    )
    ah.send(f.dispute(1, SPEC), ah.customer)
    assert ah.refusal(f.resolve(1, 0), ah.customer) == CustomError(
        "AccessControlUnauthorizedAccount", {"account": ah.customer, "neededRole": ARBITER_ROLE}
    )
    assert ah.refusal(f.resolve(1, 400 * USD + 1)) == CustomError(
        "ShopAmountExceedsPrice", {"jobId": 1, "shopAmount": 400 * USD + 1, "price": 400 * USD}
    )
    # an arbiter the admin appoints may resolve too
    ah.send(f.grantRole(ARBITER_ROLE, ah.stranger.address))
    ah.send(f.resolve(1, 0), ah.stranger.address)


def test_customer_claims_a_refund_after_a_missed_delivery_deadline(ah: House) -> None:
    ah.awarded(1, [(ah.shops[0], 400 * USD, 5)])
    ah.fund(1)
    f = ah.house.functions
    deadline = ah.auction(1)["deliveryDeadline"]
    ah.warp(deadline)
    assert ah.refusal(f.claimRefund(1), ah.customer) == CustomError(
        "DeliveryDeadlineNotPassed", {"jobId": 1, "deliveryDeadline": deadline}
    )
    ah.warp(deadline + 1)
    assert ah.refusal(f.claimRefund(1), ah.stranger.address) == CustomError(
        "NotCustomer", {"jobId": 1, "caller": ah.stranger.address}
    )
    before = ah.balance(ah.customer)
    receipt = ah.send(f.claimRefund(1), ah.customer)
    (event,) = ah.events("EscrowRefunded", receipt)
    assert event["args"] == {"jobId": 1, "amount": 400 * USD}
    assert ah.auction(1)["status"] == Status.REFUNDED
    ah.send(f.withdraw(), ah.customer)
    assert ah.balance(ah.customer) == before + 400 * USD
    # the shop can no longer deliver into a refunded escrow
    assert ah.refusal(f.markDelivered(1)).name == "UnexpectedStatus"


def test_no_refund_claim_once_delivered_in_time(ah: House) -> None:
    ah.delivered(1, [(ah.shops[0], 400 * USD, 5)])
    a = ah.auction(1)
    ah.warp(a["deliveryDeadline"] + 1)
    assert ah.refusal(ah.house.functions.claimRefund(1), ah.customer) == CustomError(
        "DeliveredInTime",
        {"jobId": 1, "deliveredAt": a["deliveredAt"], "deliveryDeadline": a["deliveryDeadline"]},
    )


def test_a_late_delivery_can_be_refused_for_a_refund_within_its_claim_window(ah: House) -> None:
    # given: the winner marks its delivery after the deadline (it used to take the refund away)
    ah.awarded(1, [(ah.shops[0], 400 * USD, 5)])
    ah.fund(1)
    ah.warp(ah.auction(1)["deliveryDeadline"] + 3600)
    ah.send(ah.house.functions.markDelivered(1), ah.shops[0].address)
    # when: the customer refuses it within the claim window
    receipt = ah.send(ah.house.functions.claimRefund(1), ah.customer)
    # then: refunded in full
    (event,) = ah.events("EscrowRefunded", receipt)
    assert event["args"] == {"jobId": 1, "amount": 400 * USD}
    assert ah.auction(1)["status"] == Status.REFUNDED
    assert ah.pending(ah.customer) == 400 * USD
    # and once the window of a late delivery has closed, the refund is gone (release stands)
    ah.awarded(2, [(ah.shops[1], 300 * USD, 5)])
    ah.fund(2)
    ah.warp(ah.auction(2)["deliveryDeadline"] + 3600)
    ah.send(ah.house.functions.markDelivered(2), ah.shops[1].address)
    closes = ah.auction(2)["deliveredAt"] + CLAIM_WINDOW
    ah.warp(closes)
    assert ah.refusal(ah.house.functions.claimRefund(2), ah.customer) == CustomError(
        "ClaimWindowClosed", {"jobId": 2, "claimDeadline": closes}
    )


def sign_withdrawal_for(ah: House, signer: LocalAccount, nonce: int, deadline: int) -> bytes:
    return sign_withdrawal(
        signer.key,
        chain_id=ah.w3.eth.chain_id,
        contract=ah.house.address,
        nonce=nonce,
        deadline=deadline,
    )


def test_anyone_relays_a_signed_withdrawal_to_the_payee_once(ah: House) -> None:
    shop = ah.shops[0]
    ah.delivered(1, [(shop, 400 * USD, 5)])
    ah.send(ah.house.functions.release(1), ah.customer)
    f = ah.house.functions
    deadline = ah.now() + 3600
    assert f.nonces(shop.address).call() == 0
    signature = sign_withdrawal_for(ah, shop, 0, deadline)
    # the digest printfair signs is the contract's
    assert (
        recover_withdrawal_signer(
            signature,
            chain_id=ah.w3.eth.chain_id,
            contract=ah.house.address,
            account=shop.address,
            nonce=0,
            deadline=deadline,
        )
        == shop.address
    )
    before = ah.balance(shop.address)
    # relayed by the operator, paid to the shop
    receipt = ah.send(f.withdrawFor(shop.address, deadline, signature))
    (event,) = ah.events("Withdrawn", receipt)
    assert event["args"] == {"account": shop.address, "amount": 390 * USD}
    assert ah.balance(shop.address) == before + 390 * USD
    assert f.nonces(shop.address).call() == 1
    # the same signature again names a used nonce
    assert ah.refusal(f.withdrawFor(shop.address, deadline, signature)) == CustomError(
        "InvalidWithdrawalSignature", {"account": shop.address}
    )
    # a fresh one with nothing pending
    again = sign_withdrawal_for(ah, shop, 1, deadline)
    assert ah.refusal(f.withdrawFor(shop.address, deadline, again)) == CustomError(
        "NothingToWithdraw", {"account": shop.address}
    )


def test_relayed_withdrawal_refusals(ah: House) -> None:
    shop, other = ah.shops[0], ah.shops[1]
    ah.delivered(1, [(shop, 400 * USD, 5)])
    ah.send(ah.house.functions.release(1), ah.customer)
    f = ah.house.functions
    deadline = ah.now() + 3600
    # signed by another key: nobody can withdraw someone else's balance, even to its owner
    forged = sign_withdrawal_for(ah, other, 0, deadline)
    assert ah.refusal(f.withdrawFor(shop.address, deadline, forged)) == CustomError(
        "InvalidWithdrawalSignature", {"account": shop.address}
    )
    # a deadline other than the signed one
    signature = sign_withdrawal_for(ah, shop, 0, deadline)
    assert ah.refusal(f.withdrawFor(shop.address, deadline + 1, signature)) == CustomError(
        "InvalidWithdrawalSignature", {"account": shop.address}
    )
    # expired
    ah.warp(deadline + 1)
    assert ah.refusal(f.withdrawFor(shop.address, deadline, signature)) == CustomError(
        "WithdrawalExpired", {"account": shop.address, "deadline": deadline}
    )
    assert ah.pending(shop.address) == 390 * USD


def test_withdraw_with_nothing_pending_is_refused(ah: House) -> None:
    assert ah.refusal(ah.house.functions.withdraw(), ah.customer) == CustomError(
        "NothingToWithdraw", {"account": ah.customer}
    )


def test_escrow_functions_refuse_an_unknown_job(ah: House) -> None:
    f = ah.house.functions
    calls = [
        (f.fund(5), ah.customer),
        (f.markDelivered(5), ah.operator),
        (f.release(5), ah.customer),
        (f.dispute(5, SPEC), ah.customer),
        (f.resolve(5, 0), ah.operator),
        (f.claimRefund(5), ah.customer),
    ]
    for function, sender in calls:
        assert ah.refusal(function, sender) == CustomError("AuctionNotFound", {"jobId": 5})


# --- gas ------------------------------------------------------------------------------------


def test_gas_figures(ah: House) -> None:
    shop_a, shop_b, _ = ah.shops
    f = ah.house.functions
    gas: dict[str, int] = {}
    ah.create(1, rule=SECOND_PRICE)
    gas["createAuction"] = int(ah.create(2)["gasUsed"])
    gas["commit (direct, first)"] = int(ah.commit(1, shop_a, 400 * USD, 5)["gasUsed"])
    gas["commit (direct, replace)"] = int(ah.commit(1, shop_a, 400 * USD, 5, version=2)["gasUsed"])
    c = commitment_of(1, shop_b.address, 450 * USD, 5, salt_of(1, shop_b.address, "1"))
    receipt = ah.send(
        f.commitFor(1, shop_b.address, c, 1, ah.sign(shop_b, 1, shop_b.address, c, 1))
    )
    gas["commitFor"] = int(receipt["gasUsed"])

    # a batch of 20 relayed bids from 20 freshly verified shops on job 2
    batch = [cast(LocalAccount, Account.create()) for _ in range(20)]
    for shop in batch:
        ah.send(f.setShopVerified(shop.address, True))
    commitments = [keccak(text=f"bid {i}") for i in range(20)]
    receipt = ah.send(
        f.commitMany(
            [2] * 20,
            [s.address for s in batch],
            commitments,
            [1] * 20,
            [ah.sign(s, 2, s.address, c, 1) for s, c in zip(batch, commitments, strict=True)],
        ),
        ah.stranger.address,
    )
    gas["commitMany, per bid (20)"] = int(receipt["gasUsed"]) // 20

    ah.to_reveal_phase(1)
    gas["reveal (first, best)"] = int(ah.reveal(1, shop_a, 400 * USD, 5, version=2)["gasUsed"])
    gas["reveal (runner-up)"] = int(ah.reveal(1, shop_b, 450 * USD, 5)["gasUsed"])
    ah.to_end_of_reveal(1)
    gas["finalize"] = int(ah.finalize(1)["gasUsed"])
    gas["fund"] = int(ah.fund(1)["gasUsed"])
    gas["markDelivered"] = int(ah.send(f.markDelivered(1))["gasUsed"])
    gas["release"] = int(ah.send(f.release(1), ah.customer)["gasUsed"])
    gas["withdraw"] = int(ah.send(f.withdraw(), shop_a.address)["gasUsed"])

    print("\nAuctionHouse gas used:")
    for name, used in gas.items():
        print(f"  {name:<26} {used:>8,}")
    # bounds that catch an accidental extra storage slot or loop, not exact figures
    assert gas["commit (direct, first)"] < 100_000
    assert gas["commitMany, per bid (20)"] < 80_000
    assert gas["reveal (first, best)"] < 100_000
    assert gas["finalize"] < 80_000
    assert gas["release"] < 100_000
