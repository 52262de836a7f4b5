"""The AuctionHouse deployed on its own from its build artifact, with the parties and steps its
tests share (tests/ledger/test_auction_house.py, test_auction_invariants.py): the `ah` fixture
(tests/ledger/conftest.py) gives a `House`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import pytest
from django.conf import settings
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
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
    "fundingDeadline",
    "fundingWindow",
    "reawardToRunnerUp",
    "runnerUp",
)
BID_FIELDS = ("commitment", "version", "sequence", "revealed")
FUNDING_WINDOW = 3 * 24 * 3600
ADMIN_DELAY = 2 * 24 * 3600


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
    CANCELLED = 10


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
    arbiter: ChecksumAddress

    # --- plumbing ---

    def send(self, function: ContractFunction, sender: str | None = None) -> TxReceipt:
        tx_hash = function.transact({"from": sender or self.operator})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.005)
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
        window: int = FUNDING_WINDOW,
        reaward: bool = False,
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
                window,
                reaward,
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
        self,
        job: int,
        bids: list[tuple[LocalAccount, int, int]],
        *,
        rule: int = FIRST_PRICE,
        reaward: bool = False,
    ) -> None:
        self.create(job, rule=rule, reaward=reaward)
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


def deploy_house(chain: Anvil) -> House:
    """The test token and an AuctionHouse on `chain`, three verified shops, two funded customers."""
    w3 = web3_client()
    operator = operator_account()
    accounts = [dev_account(i) for i in range(1, 9)]
    customer, other_customer, shop_a, shop_b, shop_c, stranger, treasury, arbiter = accounts

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
        "AuctionHouse",
        operator.address,
        ADMIN_DELAY,
        operator.address,
        arbiter.address,
        token.address,
        treasury.address,
        FEE_BPS,
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
        arbiter=arbiter.address,
    )
    for shop in ah.shops:
        ah.send(house.functions.setShopVerified(shop.address, True))
    for who in (customer.address, other_customer.address):
        ah.send(token.functions.mint(who, 100_000 * USD))
    return ah
