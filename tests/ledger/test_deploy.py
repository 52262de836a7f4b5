"""`manage.py deploy_contracts` on a real anvil: deploys what is missing or out of date, records
it, and leaves the rest alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from eth_typing import HexStr
from eth_utils.crypto import keccak
from web3 import Web3

from ledger.anvil import Anvil, free_port
from ledger.chain import arbiter_account, operator_account, web3_client
from ledger.contracts import (
    Artifact,
    ContractNotDeployed,
    contract,
    load_artifact,
)
from ledger.models import ChainEvent, Deployment
from ledger.services.indexer import index_chain

ALL = ["AuctionHouse", "DesignRegistry", "MachineRegistry", "RecordAnchor", "TestStablecoin"]
ADMIN_ROLE = b"\x00" * 32
OPERATIONAL_ROLES = {
    "RecordAnchor": keccak(text="ANCHORER_ROLE"),
    "DesignRegistry": keccak(text="REGISTRAR_ROLE"),
    "MachineRegistry": keccak(text="REGISTRAR_ROLE"),
    "TestStablecoin": keccak(text="MINTER_ROLE"),
    "AuctionHouse": keccak(text="OPERATOR_ROLE"),
}
OTHER_CHAIN_ID = 4242


def deploy(*args: str) -> str:
    out = StringIO()
    call_command("deploy_contracts", *args, stdout=out)
    return out.getvalue()


def rows() -> dict[str, Deployment]:
    return {d.name: d for d in Deployment.objects.all()}


@pytest.fixture
def other_chain(settings: Any) -> Iterator[Anvil]:
    """A second anvil whose chain id is not a development chain's, as the configured chain."""
    node = Anvil(mnemonic=django_settings.CHAIN_DEV_MNEMONIC, chain_id=OTHER_CHAIN_ID).start()
    settings.CHAIN_RPC_URL = node.url
    settings.CHAIN_ID = OTHER_CHAIN_ID
    yield node
    node.stop()


def test_the_first_run_deploys_and_records_every_contract(chain: Anvil, db: None) -> None:
    # when
    output = deploy()
    # then
    w3 = web3_client()
    recorded = rows()
    assert sorted(recorded) == ALL
    for name, row in recorded.items():
        assert row.chain_id == 31337
        assert row.bytecode_hash.startswith("0x") and len(row.bytecode_hash) == 66
        assert w3.eth.get_code(Web3.to_checksum_address(row.address))
        receipt = w3.eth.get_transaction_receipt(HexStr(row.tx_hash))
        assert (receipt["contractAddress"], receipt["blockNumber"]) == (
            row.address,
            row.block_number,
        )
        assert f"{name}: deployed at {row.address}" in output


def test_a_second_run_deploys_nothing(chain: Anvil, db: None) -> None:
    # given
    deploy()
    before = {name: (r.address, r.tx_hash) for name, r in rows().items()}
    block = web3_client().eth.block_number
    # when
    output = deploy()
    # then
    assert {name: (r.address, r.tx_hash) for name, r in rows().items()} == before
    assert web3_client().eth.block_number == block
    assert output.count("up to date") == len(ALL)


def test_a_recorded_address_without_code_is_redeployed(chain: Anvil, db: None) -> None:
    # given a row left from a chain that was reset: nothing lives at its address now
    deploy()
    Deployment.objects.filter(name="RecordAnchor").update(
        address="0x000000000000000000000000000000000000dEaD"
    )
    # when
    output = deploy()
    # then
    row = Deployment.objects.get(name="RecordAnchor")
    assert row.address != "0x000000000000000000000000000000000000dEaD"
    assert web3_client().eth.get_code(Web3.to_checksum_address(row.address))
    assert "RecordAnchor: deployed" in output and "no code at the recorded" in output
    assert output.count("up to date") == len(ALL) - 1


def test_a_changed_artifact_is_redeployed(chain: Anvil, db: None) -> None:
    deploy()
    Deployment.objects.filter(name="DesignRegistry").update(bytecode_hash="0x" + "00" * 32)
    old_address = Deployment.objects.get(name="DesignRegistry").address

    output = deploy()

    row = Deployment.objects.get(name="DesignRegistry")
    assert row.address != old_address
    assert row.bytecode_hash != "0x" + "00" * 32
    assert "the artifact or its settings changed" in output


def test_a_changed_auction_house_is_not_deployed_over_money_or_open_auctions(
    chain: Anvil, db: None
) -> None:
    # given: the AuctionHouse holds tokens (escrow, unpaid balances) and an open auction
    deploy()
    w3 = web3_client()
    house = Deployment.objects.get(name="AuctionHouse")
    token = contract(w3, "TestStablecoin")
    operator = operator_account().address
    tx = token.functions.mint(house.address, 5).transact({"from": operator})
    w3.eth.wait_for_transaction_receipt(tx)
    ChainEvent.objects.create(
        chain_id=31337, block_number=1, block_hash="0x" + "11" * 32, log_index=0,
        tx_hash="0x" + "22" * 32, contract="AuctionHouse", address=house.address,
        name="AuctionCreated", args={"jobId": "9"},
    )  # fmt: skip
    # when: the artifact changes (a new version)
    Deployment.objects.filter(name="AuctionHouse").update(bytecode_hash="0x" + "00" * 32)
    # then: refused, naming what would be stranded
    with pytest.raises(CommandError) as refused:
        deploy()
    assert "holds 5 base units of escrow" in str(refused.value)
    assert "1 auction(s) not ended" in str(refused.value)
    assert Deployment.objects.get(name="AuctionHouse").address == house.address
    # unless the operator says so
    deploy("--replace-auction-house")
    assert Deployment.objects.get(name="AuctionHouse").address != house.address


def test_the_relayer_is_not_the_arbiter(chain: Anvil, db: None) -> None:
    deploy()
    functions = contract(web3_client(), "AuctionHouse").functions
    arbiter_role = keccak(text="ARBITER_ROLE")
    assert functions.hasRole(arbiter_role, arbiter_account().address).call()
    assert not functions.hasRole(arbiter_role, operator_account().address).call()
    assert functions.defaultAdminDelay().call() == django_settings.CHAIN_ADMIN_DELAY


def test_the_admin_shows_who_holds_each_role_on_chain(
    deployed: Anvil, admin_user: Any, login: Any
) -> None:
    house = Deployment.objects.get(name="AuctionHouse")
    index_chain()  # the role events, once final
    page = login(admin_user).get(f"/admin/ledger/deployment/{house.pk}/change/").content.decode()
    assert "Roles on chain" in page
    operator, arbiter = operator_account().address, arbiter_account().address
    assert f"<th>operator</th><td class='mono'>{operator}</td>" in page
    assert f"<th>arbiter</th><td class='mono'>{arbiter}</td>" in page
    assert f"<th>admin</th><td class='mono'>{operator}</td>" in page
    assert f"{django_settings.CHAIN_ADMIN_DELAY} s (two steps)" in page


def test_verbosity_0_prints_nothing(chain: Anvil, db: None) -> None:
    out = StringIO()
    call_command("deploy_contracts", verbosity=0, stdout=out)
    assert out.getvalue() == ""
    assert sorted(rows()) == ALL


def test_the_operator_gets_the_operational_roles_and_the_admin_role(chain: Anvil, db: None) -> None:
    deploy()
    w3 = web3_client()
    operator = operator_account().address
    for name, role in OPERATIONAL_ROLES.items():
        functions = contract(w3, name).functions
        assert functions.hasRole(role, operator).call()
        assert functions.hasRole(ADMIN_ROLE, operator).call()


def test_admin_can_be_another_address(chain: Anvil, db: None) -> None:
    w3 = web3_client()
    operator = operator_account().address
    admin = next(a for a in w3.eth.accounts if a != operator)

    deploy("--admin", admin)

    for name, role in OPERATIONAL_ROLES.items():
        functions = contract(w3, name).functions
        assert functions.hasRole(ADMIN_ROLE, admin).call()
        assert not functions.hasRole(ADMIN_ROLE, operator).call()
        assert functions.hasRole(role, operator).call()


def test_admin_must_be_an_address(chain: Anvil, db: None) -> None:
    with pytest.raises(CommandError, match="not an address"):
        deploy("--admin", "treasury")


def test_contract_refuses_a_name_not_deployed_on_this_chain(chain: Anvil, db: None) -> None:
    with pytest.raises(ContractNotDeployed, match="RecordAnchor is not deployed on chain 31337"):
        contract(web3_client(), "RecordAnchor")


@pytest.mark.parametrize("fee_mode", ["eip1559", "legacy"])
def test_fee_modes(chain: Anvil, db: None, settings: Any, fee_mode: str) -> None:
    settings.CHAIN_FEE_MODE = fee_mode
    deploy()
    w3 = web3_client()
    tx = w3.eth.get_transaction(HexStr(Deployment.objects.get(name="RecordAnchor").tx_hash))
    assert tx["type"] == (2 if fee_mode == "eip1559" else 0)


def test_free_gas_chains_get_a_zero_gas_price(db: None, settings: Any) -> None:
    # given a permissioned network with free gas: no base fee and no minimum price
    node = Anvil(mnemonic=django_settings.CHAIN_DEV_MNEMONIC, chain_id=OTHER_CHAIN_ID)
    node.args += ["--base-fee", "0", "--gas-price", "0"]
    node.start()
    settings.CHAIN_RPC_URL = node.url
    settings.CHAIN_ID = OTHER_CHAIN_ID
    settings.CHAIN_FEE_MODE = "free"
    try:
        # when
        deploy()
        # then
        tx_hash = HexStr(Deployment.objects.get(name="RecordAnchor").tx_hash)
        tx = web3_client().eth.get_transaction(tx_hash)
        assert (tx["type"], tx["gasPrice"]) == (0, 0)
    finally:
        node.stop()


def test_the_test_token_goes_only_to_development_chains(other_chain: Anvil, db: None) -> None:
    output = deploy()
    assert sorted(rows()) == ["DesignRegistry", "MachineRegistry", "RecordAnchor"]
    assert "TestStablecoin" not in output
    assert "AuctionHouse: skipped: set CHAIN_SETTLEMENT_TOKEN" in output
    assert all(r.chain_id == OTHER_CHAIN_ID for r in rows().values())


def test_with_test_token_deploys_it_anywhere(other_chain: Anvil, db: None) -> None:
    deploy("--with-test-token")
    assert sorted(rows()) == ALL


def test_rows_are_per_chain(chain: Anvil, db: None) -> None:
    deploy()
    with pytest.raises(ContractNotDeployed):
        contract(web3_client(), "RecordAnchor", chain_id=OTHER_CHAIN_ID)


def test_a_node_of_another_chain_is_refused(chain: Anvil, db: None, settings: Any) -> None:
    settings.CHAIN_ID = OTHER_CHAIN_ID
    with pytest.raises(CommandError, match="is chain 31337, but CHAIN_ID is 4242"):
        deploy()
    assert not Deployment.objects.exists()


def test_a_node_that_does_not_answer_fails_after_the_wait(db: None, settings: Any) -> None:
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match=r"does not answer within 0\.5s"):
        deploy("--wait", "0.5")


def test_wait_gives_a_starting_node_time(db: None, settings: Any) -> None:
    # given a node that starts a moment after the command (as under `make run`)
    node = Anvil(mnemonic=django_settings.CHAIN_DEV_MNEMONIC, chain_id=31337)
    settings.CHAIN_RPC_URL = node.url
    starter = threading.Timer(1.0, node.start)
    starter.start()
    try:
        # when
        output = deploy("--wait", "30")
    finally:
        starter.join()
        node.stop()
    # then
    assert output.count(": deployed at") == len(ALL)


def test_a_deployment_that_would_revert_fails_clearly(
    chain: Anvil, db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a build whose constructor reverts (PUSH1 0 PUSH1 0 REVERT)
    broken = Artifact(
        name="RecordAnchor", abi=load_artifact("RecordAnchor").abi, bytecode=HexStr("0x60006000fd")
    )
    monkeypatch.setattr("ledger.contracts.load_artifact", lambda name: broken)
    # when / then
    with pytest.raises(CommandError, match="RecordAnchor: the deployment would revert"):
        deploy()
    assert not Deployment.objects.exists()
