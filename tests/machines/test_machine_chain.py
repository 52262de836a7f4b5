"""Machines on the MachineRegistry (issue 17): registering a machine, approving, rotating and
revoking its keys through the shop's services ends on a real anvil, by the outbox's sender, with
`keyOf` and `machineOf` saying what the database says; the machine's page and the API show each
write on its way and once recorded. A verifier reads the registry's address from the public
chain info."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.types import TxParams

from ledger.anvil import Anvil
from ledger.chain import operator_account, web3_client
from ledger.contracts import contract
from ledger.models import ChainTx, Deployment
from machines import services
from machines.models import Machine, MachineKey
from marketplace.models import User
from printfair.keys import sign_registration
from printfair.machine_events import pairing_code, pairing_message
from tests.scenarios import drain

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
MACHINE = {
    "make": "Prusa", "model": "MK4", "process": "fdm", "build_x_mm": 250, "build_y_mm": 210,
    "build_z_mm": 220, "serial": "SN-4711",
}  # fmt: skip


@pytest.fixture
def registry(deployed: Anvil) -> Contract:
    return contract(web3_client(), "MachineRegistry")


@pytest.fixture
def machine(deployed: Anvil, winning_shop: User, customer: User) -> Machine:
    """The winning shop's machine, leased from the customer's organisation (owner and operator
    differ, so that the registry is seen to keep both)."""
    return services.machine_create(actor=winning_shop, owner=customer.organization, **MACHINE)


def propose(shop: User, machine: Machine, account: LocalAccount | None = None) -> LocalAccount:
    """The agent's new key (or `account`), proposed with its signature of the pairing message."""
    account = account or Account.create()
    message = pairing_message(
        machine_id=machine.pk, address=account.address, chain_id=settings.CHAIN_ID
    )
    services.machine_key_propose(
        actor=shop,
        machine=machine,
        address=account.address,
        signature=sign_registration(account.key, message),
    )
    return account


def approve(shop: User, machine: Machine, account: LocalAccount) -> MachineKey:
    """The shop approves the key with the code the agent shows."""
    code = pairing_code(machine_id=machine.pk, address=account.address)
    return services.machine_key_approve(actor=shop, machine=machine, code=code)


def paired(shop: User, machine: Machine) -> MachineKey:
    return approve(shop, machine, propose(shop, machine))


def key_of(registry: Contract, key: MachineKey) -> dict[str, int]:
    names = ("machineId", "firstSequence", "untilSequence", "approvedAt", "revokedAt")
    return dict(zip(names, registry.functions.keyOf(key.address).call(), strict=True))


def fresh(chain_tx: ChainTx | None) -> ChainTx:
    """The chain write as the sender has left it."""
    assert chain_tx is not None
    return ChainTx.objects.get(pk=chain_tx.pk)


def test_a_machine_and_its_keys_end_on_chain_as_the_shop_made_them(
    registry: Contract, machine: Machine, winning_shop: User
) -> None:
    # given: the machine registered and its first key approved
    first = paired(winning_shop, machine)
    writes = (machine.register_tx, first.approve_tx)
    assert {fresh(tx).status for tx in writes} == {ChainTx.Status.PENDING}
    # when: the sender runs
    drain()
    # then
    assert {fresh(tx).status for tx in writes} == {ChainTx.Status.FINAL}
    owner, operator, active, registered_at = registry.functions.machineOf(machine.pk).call()
    assert "0x" + owner.hex() == machine.owner.owner_ref
    assert "0x" + operator.hex() == machine.operator.owner_ref != machine.owner.owner_ref
    assert (active, registered_at > 0) == (first.address, True)
    on_chain = key_of(registry, first)
    assert on_chain["machineId"] == machine.pk
    assert (on_chain["firstSequence"], on_chain["untilSequence"]) == (1, 0)
    assert on_chain["approvedAt"] > 0 and on_chain["revokedAt"] == 0


def test_a_rotation_ends_the_old_keys_range_on_chain_where_the_database_does(
    registry: Contract, machine: Machine, winning_shop: User
) -> None:
    # given: the first key, and three events applied with it
    first = paired(winning_shop, machine)
    drain()
    Machine.objects.filter(pk=machine.pk).update(last_sequence=3)
    # when: the agent's new key is approved
    second = paired(winning_shop, machine)
    drain()
    # then
    first.refresh_from_db()
    assert first.retired_from_sequence == second.first_sequence == 4
    assert key_of(registry, first)["untilSequence"] == 4
    assert key_of(registry, second)["firstSequence"] == 4
    assert registry.functions.machineOf(machine.pk).call()[2] == second.address


def test_a_revoked_key_is_revoked_on_chain(
    registry: Contract, machine: Machine, winning_shop: User
) -> None:
    # given
    key = paired(winning_shop, machine)
    # when: revoked before its approval was even mined (it waits for it)
    key = services.machine_key_revoke(actor=winning_shop, machine=machine, address=key.address)
    drain()
    # then
    assert fresh(key.revoke_tx).status == ChainTx.Status.FINAL
    assert key_of(registry, key)["revokedAt"] > 0
    assert registry.functions.machineOf(machine.pk).call()[2] == ZERO_ADDRESS


def test_a_key_revoked_while_it_waited_for_the_shop_is_not_sent(
    machine: Machine, winning_shop: User
) -> None:
    # given: a key proposed, never approved
    account = propose(winning_shop, machine)
    # when
    key = services.machine_key_revoke(actor=winning_shop, machine=machine, address=account.address)
    # then: the registry never knew it, and keyOf already reads it as no key
    assert key.approve_tx is None and key.revoke_tx is None
    assert not ChainTx.objects.filter(function__in=("approveKey", "revokeKey")).exists()


def test_a_machine_registered_before_the_registry_gets_registered_with_its_next_key(
    registry: Contract, machine: Machine, winning_shop: User
) -> None:
    # given: a machine whose registration was never queued
    Machine.objects.filter(pk=machine.pk).update(register_tx=None)
    ChainTx.objects.filter(function="registerMachine").delete()
    machine.refresh_from_db()
    # when
    key = paired(winning_shop, machine)
    drain()
    # then
    machine.refresh_from_db()
    assert fresh(machine.register_tx).status == ChainTx.Status.FINAL
    assert registry.functions.machineOf(machine.pk).call()[2] == key.address


def test_a_key_another_machine_holds_on_chain_is_not_given_to_this_one(
    registry: Contract, machine: Machine, winning_shop: User
) -> None:
    # given: an address that is already some other machine's key on chain (a database restored
    # from an old backup would not know it)
    taken = Account.create()
    operator: TxParams = {"from": operator_account().address}
    w3 = web3_client()
    for call in (
        registry.functions.registerMachine(10_000, b"\x01" * 32, b"\x01" * 32),
        registry.functions.approveKey(10_000, taken.address, 1),
    ):
        w3.eth.wait_for_transaction_receipt(call.transact(operator))
    propose(winning_shop, machine, taken)
    # when: the shop approves it here
    key = approve(winning_shop, machine, taken)
    drain()
    # then: the registry refuses it, and the key stays the other machine's
    approval = fresh(key.approve_tx)
    assert approval.status == ChainTx.Status.FAILED
    assert "MachineRegistryKeyUsed" in approval.error
    assert key_of(registry, key)["machineId"] == 10_000


def test_the_page_and_the_api_show_each_key_on_its_way_and_recorded(
    machine: Machine,
    winning_shop: User,
    login: Callable[[User | None], Client],
    api_client: Callable[[User], Client],
) -> None:
    # given
    key = paired(winning_shop, machine)
    page = f"/shop/machines/{machine.pk}/"
    api = api_client(winning_shop)
    # then: queued
    html = login(winning_shop).get(page).content.decode()
    assert "Approval pending" in html and "Registration pending" in html
    (listed,) = api.get(f"/api/v1/machines/{machine.pk}/").json()["keys"]
    assert listed["approval"] == {"status": "pending", "tx_hash": None, "block": None, "error": ""}
    # when
    drain()
    # then: recorded, with its transaction
    approval = fresh(key.approve_tx)
    html = login(winning_shop).get(page).content.decode()
    assert "Approval recorded on chain" in html and "Registration recorded on chain" in html
    assert approval.tx_hash in html
    detail: dict[str, Any] = api.get(f"/api/v1/machines/{machine.pk}/").json()
    assert detail["keys"][0]["approval"] == {
        "status": "final", "tx_hash": approval.tx_hash, "block": approval.block_number,
        "error": "",
    }  # fmt: skip
    assert detail["keys"][0]["revocation"] is None
    assert detail["registration"]["status"] == "final"


def test_a_verifier_finds_the_registry_in_the_public_chain_info(deployed: Anvil) -> None:
    info = Client().get("/api/v1/chain/").json()
    address = Deployment.objects.get(name="MachineRegistry").address
    assert info["contracts"]["MachineRegistry"] == address


def test_the_admin_shows_the_registry_writes_read_only(
    machine: Machine, winning_shop: User, admin_user: User, login: Callable[[User | None], Client]
) -> None:
    key = paired(winning_shop, machine)
    page = login(admin_user).get(f"/admin/machines/machine/{machine.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"machine.register:{machine.pk} [pending]" in html
    assert f"machine.key_approve:{key.address} [pending]" in html
    assert 'name="register_tx"' not in html
