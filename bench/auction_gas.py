#!/usr/bin/env python
"""Gas per AuctionHouse call, the first version against the current one, side by side in one run
(issue 16). The peer is what a user paid before: the AuctionHouse as first deployed
(bench/artifacts/AuctionHouse-v1.json, the committed artifact of b1dccd8, before the auction and
escrow rules of issue 16). Gas is deterministic, so one run on a fresh anvil is the measurement.

Both contracts run the same auction: three verified shops bid directly (the first commit of each
is what every bid pays once), twenty more through one relayed commitMany, three reveals (the
first, which leads; the runner-up; a third, below both), finalize, fund, delivery, release and the
shop's withdrawal. The goals: commit <= 55,000; commitMany <= 40,000 per bid; a reveal that does
not lead <= 45,000 (the first <= 56,000); finalize <= 40,000. Results go to
bench/results/auction_gas.json.

    make bench    # or: .venv/bin/python -m bench.auction_gas
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from ledger.anvil import Anvil, rpc

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "bench" / "artifacts" / "AuctionHouse-v1.json"
V2 = ROOT / "ledger" / "contracts" / "build" / "AuctionHouse.json"
TOKEN = ROOT / "ledger" / "contracts" / "build" / "TestStablecoin.json"
RESULTS = ROOT / "bench" / "results" / "auction_gas.json"
USD = 10**6
GOALS = {
    "commit (direct, first)": 55_000,
    "commitMany, per bid (20)": 40_000,
    "reveal (first, leads)": 56_000,
    "reveal (runner-up)": 45_000,
    "reveal (third)": 45_000,
    "finalize": 40_000,
}
SEALED_BID = {
    "SealedBid": [
        {"name": "jobId", "type": "uint256"},
        {"name": "shop", "type": "address"},
        {"name": "commitment", "type": "bytes32"},
        {"name": "version", "type": "uint64"},
    ]
}


class Chain:
    def __init__(self, url: str, accounts: list[LocalAccount]) -> None:
        self.w3 = Web3(Web3.HTTPProvider(url))
        self.url = url
        self.operator, self.customer, self.arbiter, self.treasury = accounts[:4]
        self.shops = accounts[4:7]

    def deploy(self, path: Path, *args: Any) -> Contract:
        artifact = json.loads(path.read_text())
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.mined(factory.constructor(*args).transact({"from": self.operator.address}))
        deployed: Contract = self.w3.eth.contract(
            address=receipt["contractAddress"], abi=artifact["abi"]
        )
        return deployed

    def mined(self, tx_hash: Any) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, receipt
        return receipt

    def gas(self, call: Any, sender: LocalAccount) -> int:
        return int(self.mined(call.transact({"from": sender.address}))["gasUsed"])

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def warp(self, timestamp: int) -> None:
        rpc(self.url, "evm_setNextBlockTimestamp", timestamp)
        rpc(self.url, "evm_mine")


def commitment(job: int, shop: str, price: int, lead: int) -> tuple[bytes, bytes]:
    salt = keccak(text=f"{job} {shop} {price}")
    types = ["uint256", "address", "uint256", "uint32", "bytes32"]
    return keccak(abi_encode(types, [job, shop, price, lead, salt])), salt


def measure(chain: Chain, house: Contract, token: Contract, create: list[Any]) -> dict[str, int]:
    f, gas = house.functions, {}
    batch = [Account.create() for _ in range(20)]
    for shop in [*chain.shops, *batch]:
        chain.mined(
            f.setShopVerified(shop.address, True).transact({"from": chain.operator.address})
        )
    start = chain.now()
    gas["createAuction"] = chain.gas(
        f.createAuction(1, chain.customer.address, start + 1_000, start + 2_000, *create),
        chain.operator,
    )
    chain.gas(
        f.createAuction(2, chain.customer.address, start + 1_000, start + 2_000, *create),
        chain.operator,
    )
    bids = [(chain.shops[0], 400 * USD), (chain.shops[1], 450 * USD), (chain.shops[2], 500 * USD)]
    salts = {}
    for n, (shop, price) in enumerate(bids):
        sealed, salts[shop.address] = commitment(1, shop.address, price, 5)
        used = chain.gas(f.commit(1, sealed, 1), shop)
        if n == 0:
            gas["commit (direct, first)"] = used
    domain = {
        "name": "PrintFair AuctionHouse",
        "version": "1",
        "chainId": chain.w3.eth.chain_id,
        "verifyingContract": house.address,
    }
    sealed_bids = [keccak(text=f"bid {n}") for n in range(20)]
    signatures = [
        bytes(
            shop.sign_typed_data(
                domain_data=domain,
                message_types=SEALED_BID,
                message_data={"jobId": 2, "shop": shop.address, "commitment": c, "version": 1},
            ).signature
        )
        for shop, c in zip(batch, sealed_bids, strict=True)
    ]
    relayed = f.commitMany([2] * 20, [s.address for s in batch], sealed_bids, [1] * 20, signatures)
    gas["commitMany, per bid (20)"] = chain.gas(relayed, chain.operator) // 20
    chain.warp(start + 1_000)
    for label, (shop, price) in zip(
        ("reveal (first, leads)", "reveal (runner-up)", "reveal (third)"), bids, strict=True
    ):
        reveal = f.reveal(1, shop.address, price, 5, salts[shop.address])
        gas[label] = chain.gas(reveal, chain.operator)
    chain.warp(start + 2_000)
    gas["finalize"] = chain.gas(f.finalize(1), chain.operator)
    chain.mined(
        token.functions.mint(chain.customer.address, 1_000 * USD).transact(
            {"from": chain.operator.address}
        )
    )
    approve = token.functions.approve(house.address, 400 * USD)
    chain.mined(approve.transact({"from": chain.customer.address}))
    gas["fund"] = chain.gas(f.fund(1), chain.customer)
    gas["markDelivered"] = chain.gas(f.markDelivered(1), chain.operator)
    gas["release"] = chain.gas(f.release(1), chain.customer)
    gas["withdraw"] = chain.gas(f.withdraw(), chain.shops[0])
    return gas


def main() -> int:
    Account.enable_unaudited_hdwallet_features()
    _, mnemonic = Account.create_with_mnemonic()
    accounts = [
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{n}") for n in range(7)
    ]
    node = Anvil(mnemonic=mnemonic, chain_id=31337).start()
    try:
        chain = Chain(node.url, accounts)
        operator, treasury = chain.operator.address, chain.treasury.address
        token = chain.deploy(TOKEN, operator, operator)
        v1 = chain.deploy(V1, operator, operator, token.address, treasury, 250)
        v2 = chain.deploy(
            V2, operator, 2 * 86_400, operator, chain.arbiter.address, token.address, treasury, 250
        )
        reserve, spec = 1_000 * USD, keccak(text="spec")
        first = measure(chain, v1, token, [reserve, spec, 0])
        second = measure(chain, v2, token, [reserve, spec, 0, 30, 3 * 86_400, False])
    finally:
        node.stop()
    print(f"{'call':<26} {'v1':>9} {'v2':>9} {'v2/v1':>6}  goal")
    rows: list[dict[str, Any]] = []
    missed = False
    for name in second:
        goal = GOALS.get(name)
        missed = missed or (goal is not None and second[name] > goal)
        met = "" if goal is None else f"<= {goal:,} {'met' if second[name] <= goal else 'MISSED'}"
        ratio = second[name] / first[name]
        print(f"{name:<26} {first[name]:>9,} {second[name]:>9,} {ratio:>6.2f}  {met}")
        rows.append({"call": name, "v1": first[name], "v2": second[name], "goal": goal})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
