"""The MachineRegistry on a real anvil: machines with their owner and operator, keys approved
from a sequence number, rotated and revoked, and every refusal. The attacks it stops are named:
a machine claiming a key another machine used, and an account that is not the registrar."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any

import pytest
from eth_account import Account
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.anvil import Anvil
from ledger.chain import operator_account, web3_client
from ledger.contracts import CustomError, contract, decode_custom_error, load_artifact

REGISTRAR_ROLE = keccak(text="REGISTRAR_ROLE")
ZERO = b"\x00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
OWNER = keccak(text="owner organisation")
SHOP = keccak(text="operating shop")
# What `printfair` decodes by hand (static ABI words only): pinned here so that a change to the
# views is a change the CLI must follow.
KEY_OF = "fa073d76"
MACHINE_OF = "4936613b"


@dataclass(frozen=True)
class Registry:
    w3: Web3
    machines: Contract
    operator: str
    stranger: str

    def send(self, function: ContractFunction, sender: str | None = None) -> TxReceipt:
        """Sends through anvil's unlocked accounts (the operator unless `sender`) and waits for
        the (automined) receipt."""
        tx_hash = function.transact({"from": sender} if sender else {})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def timestamp(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])

    def register(self, machine_id: int = 1) -> TxReceipt:
        return self.send(self.machines.functions.registerMachine(machine_id, OWNER, SHOP))

    def approve(self, machine_id: int, key: str, first_sequence: int) -> TxReceipt:
        return self.send(self.machines.functions.approveKey(machine_id, key, first_sequence))

    def key_of(self, key: str) -> dict[str, int]:
        names = ("machineId", "firstSequence", "untilSequence", "approvedAt", "revokedAt")
        return dict(zip(names, self.machines.functions.keyOf(key).call(), strict=True))

    def events(self, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
        """The receipt's `name` events (an approval also logs the retirement before it)."""
        processed = self.machines.events[name]().process_receipt(receipt, errors=DISCARD)
        return [dict(event["args"]) for event in processed]


@pytest.fixture
def registry(deployed: Anvil) -> Registry:
    w3 = web3_client()
    operator = operator_account().address
    w3.eth.default_account = operator
    stranger = next(a for a in w3.eth.accounts if a != operator)
    return Registry(w3, contract(w3, "MachineRegistry"), operator, stranger)


def new_key() -> str:
    return str(Account.create().address)


def refusal(function: ContractFunction, sender: str | None = None) -> CustomError:
    """The MachineRegistry error that an eth_call of `function` reverts with."""
    with pytest.raises(ContractCustomError) as info:
        function.call({"from": sender} if sender else {})
    error = decode_custom_error("MachineRegistry", str(info.value.data))
    assert error is not None, f"not an error of MachineRegistry: {info.value.data}"
    return error


# --- machines ----------------------------------------------------------------------------------


def test_a_machine_is_registered_with_its_owner_and_operator(registry: Registry) -> None:
    # when
    receipt = registry.register(7)
    # then
    machine = registry.machines.functions.machineOf(7).call()
    assert machine == [OWNER, SHOP, ZERO_ADDRESS, registry.timestamp(receipt)]
    assert registry.events("MachineRegistered", receipt) == [
        {"machineId": 7, "ownerRef": OWNER, "operatorRef": SHOP}
    ]


def test_nothing_is_known_of_an_unregistered_machine_or_key(registry: Registry) -> None:
    assert registry.machines.functions.machineOf(7).call() == [ZERO, ZERO, ZERO_ADDRESS, 0]
    assert set(registry.key_of(new_key()).values()) == {0}


def test_a_machine_id_registered_before_cannot_be_taken_over(registry: Registry) -> None:
    # given
    first = registry.register(7)
    # when: a platform that counted its ids anew registers "machine 7" for someone else
    other = keccak(text="someone else")
    error = refusal(registry.machines.functions.registerMachine(7, other, other))
    # then
    assert error.name == "MachineRegistryAlreadyRegistered"
    assert error.args == {"machineId": 7, "registeredAt": registry.timestamp(first)}
    assert registry.machines.functions.machineOf(7).call()[:2] == [OWNER, SHOP]


def test_registration_refuses_machine_id_zero_and_zero_references(registry: Registry) -> None:
    register = registry.machines.functions.registerMachine
    assert refusal(register(0, OWNER, SHOP)).name == "MachineRegistryZeroMachineId"
    for owner, operator in ((ZERO, SHOP), (OWNER, ZERO)):
        error = refusal(register(7, owner, operator))
        assert (error.name, error.args) == ("MachineRegistryZeroRef", {"machineId": 7})


def test_a_machine_changes_hands_and_keeps_its_keys(registry: Registry) -> None:
    # given
    registry.register(7)
    key = new_key()
    registry.approve(7, key, 1)
    buyer = keccak(text="buyer")
    # when
    receipt = registry.send(registry.machines.functions.updateMachine(7, buyer, buyer))
    # then
    assert registry.machines.functions.machineOf(7).call()[:3] == [buyer, buyer, key]
    assert registry.events("MachineUpdated", receipt) == [
        {"machineId": 7, "ownerRef": buyer, "operatorRef": buyer}
    ]


def test_an_update_needs_a_registered_machine_and_a_change(registry: Registry) -> None:
    update = registry.machines.functions.updateMachine
    error = refusal(update(7, OWNER, SHOP))
    assert (error.name, error.args) == ("MachineRegistryUnknownMachine", {"machineId": 7})
    registry.register(7)
    error = refusal(update(7, OWNER, SHOP))
    assert (error.name, error.args) == ("MachineRegistryUnchanged", {"machineId": 7})
    assert refusal(update(7, ZERO, SHOP)).name == "MachineRegistryZeroRef"


# --- keys ---------------------------------------------------------------------------------------


def test_a_key_is_approved_from_its_first_sequence(registry: Registry) -> None:
    # given
    registry.register(7)
    key = new_key()
    # when
    receipt = registry.approve(7, key, 1)
    # then
    assert registry.key_of(key) == {
        "machineId": 7, "firstSequence": 1, "untilSequence": 0,
        "approvedAt": registry.timestamp(receipt), "revokedAt": 0,
    }  # fmt: skip
    assert registry.machines.functions.machineOf(7).call()[2] == key
    assert registry.events("MachineKeyApproved", receipt) == [
        {"machineId": 7, "key": key, "firstSequence": 1}
    ]
    assert registry.events("MachineKeyRetired", receipt) == []


def test_rotation_ends_the_old_keys_range_where_the_new_one_starts(registry: Registry) -> None:
    # given
    registry.register(7)
    old, new = new_key(), new_key()
    registry.approve(7, old, 1)
    # when: the old key signed events 1 to 41
    receipt = registry.approve(7, new, 42)
    # then
    assert registry.key_of(old)["untilSequence"] == 42
    assert registry.key_of(new)["firstSequence"] == 42
    assert registry.key_of(new)["untilSequence"] == 0
    assert registry.machines.functions.machineOf(7).call()[2] == new
    assert registry.events("MachineKeyRetired", receipt) == [
        {"machineId": 7, "key": old, "untilSequence": 42}
    ]


def test_a_new_key_cannot_start_before_the_key_it_replaces(registry: Registry) -> None:
    registry.register(7)
    active = new_key()
    registry.approve(7, active, 10)
    error = refusal(registry.machines.functions.approveKey(7, new_key(), 9))
    assert error.name == "MachineRegistrySequenceBackwards"
    assert error.args == {"machineId": 7, "firstSequence": 9, "activeFirstSequence": 10}


def test_approval_refuses_an_unknown_machine_a_zero_key_and_sequence_zero(
    registry: Registry,
) -> None:
    approve = registry.machines.functions.approveKey
    key = new_key()
    error = refusal(approve(7, key, 1))
    assert (error.name, error.args) == ("MachineRegistryUnknownMachine", {"machineId": 7})
    registry.register(7)
    error = refusal(approve(7, ZERO_ADDRESS, 1))
    assert (error.name, error.args) == ("MachineRegistryZeroKey", {"machineId": 7})
    # 0 is what "still signing" reads as: a successor starting there would reopen the old key
    error = refusal(approve(7, key, 0))
    assert (error.name, error.args) == ("MachineRegistryZeroSequence", {"machineId": 7, "key": key})


def test_a_second_machine_cannot_claim_a_key_already_used(registry: Registry) -> None:
    # given: machine 7's key
    registry.register(7)
    registry.register(8)
    key = new_key()
    registry.approve(7, key, 1)
    # when: machine 8 claims it, to have machine 7's signatures count as its own
    error = refusal(registry.machines.functions.approveKey(8, key, 1))
    # then
    assert (error.name, error.args) == ("MachineRegistryKeyUsed", {"key": key, "machineId": 7})
    assert registry.key_of(key)["machineId"] == 7


def test_a_retired_key_cannot_be_approved_again_to_reopen_its_range(registry: Registry) -> None:
    registry.register(7)
    old = new_key()
    registry.approve(7, old, 1)
    registry.approve(7, new_key(), 5)
    error = refusal(registry.machines.functions.approveKey(7, old, 9))
    assert (error.name, error.args) == ("MachineRegistryKeyUsed", {"key": old, "machineId": 7})


def test_a_revoked_key_counts_for_nothing_and_leaves_the_machine_without_one(
    registry: Registry,
) -> None:
    # given
    registry.register(7)
    key = new_key()
    registry.approve(7, key, 1)
    # when
    receipt = registry.send(registry.machines.functions.revokeKey(7, key))
    # then
    assert registry.key_of(key)["revokedAt"] == registry.timestamp(receipt)
    assert registry.machines.functions.machineOf(7).call()[2] == ZERO_ADDRESS
    (event,) = registry.events("MachineKeyRevoked", receipt)
    assert event == {"machineId": 7, "key": key, "timestamp": registry.timestamp(receipt)}
    # and the next key replaces no one: the revoked key's range stays as it was
    registry.approve(7, new_key(), 3)
    assert registry.key_of(key)["untilSequence"] == 0


def test_revoking_a_replaced_key_keeps_the_active_one(registry: Registry) -> None:
    registry.register(7)
    old, new = new_key(), new_key()
    registry.approve(7, old, 1)
    registry.approve(7, new, 5)
    registry.send(registry.machines.functions.revokeKey(7, old))
    assert registry.key_of(old)["revokedAt"] > 0
    assert registry.machines.functions.machineOf(7).call()[2] == new


def test_revocation_refuses_another_machines_key_an_unknown_key_and_twice(
    registry: Registry,
) -> None:
    revoke = registry.machines.functions.revokeKey
    registry.register(7)
    key = new_key()
    registry.approve(7, key, 1)
    for machine_id, address in ((8, key), (7, new_key()), (0, new_key())):
        error = refusal(revoke(machine_id, address))
        assert error.name == "MachineRegistryNotMachineKey"
        assert error.args == {"machineId": machine_id, "key": address}
    revoked = registry.send(revoke(7, key))
    error = refusal(revoke(7, key))
    assert error.name == "MachineRegistryKeyAlreadyRevoked"
    assert error.args == {"key": key, "revokedAt": registry.timestamp(revoked)}


# --- roles and interface ------------------------------------------------------------------------


def test_a_non_registrar_cannot_approve_a_key(registry: Registry) -> None:
    # given: a registered machine and its key
    registry.register(7)
    key = new_key()
    registry.approve(7, key, 1)
    functions = registry.machines.functions
    # when: anyone else registers, updates, approves a key of their own, or revokes
    for function in (
        functions.approveKey(7, new_key(), 2),
        functions.registerMachine(8, OWNER, SHOP),
        functions.updateMachine(7, SHOP, SHOP),
        functions.revokeKey(7, key),
    ):
        error = refusal(function, registry.stranger)
        # then
        assert error.name == "AccessControlUnauthorizedAccount"
        assert error.args == {"account": registry.stranger, "neededRole": REGISTRAR_ROLE}
    assert registry.machines.functions.machineOf(7).call()[2] == key


def test_the_admin_can_make_another_account_a_registrar(registry: Registry) -> None:
    registry.send(registry.machines.functions.grantRole(REGISTRAR_ROLE, registry.stranger))
    registry.send(
        registry.machines.functions.registerMachine(9, OWNER, SHOP), sender=registry.stranger
    )
    assert registry.machines.functions.machineOf(9).call()[3] > 0


def interface_id(*signatures: str) -> bytes:
    """The ERC-165 id of an interface: the XOR of its functions' selectors."""
    selectors = (int.from_bytes(function_signature_to_4byte_selector(s)) for s in signatures)
    return reduce(lambda a, b: a ^ b, selectors).to_bytes(4)


def test_it_declares_its_interfaces(registry: Registry) -> None:
    imachine_registry = interface_id(
        "registerMachine(uint256,bytes32,bytes32)",
        "updateMachine(uint256,bytes32,bytes32)",
        "approveKey(uint256,address,uint64)",
        "revokeKey(uint256,address)",
        "machineOf(uint256)",
        "keyOf(address)",
    )
    supports = registry.machines.functions.supportsInterface
    assert supports(imachine_registry).call()
    assert supports(interface_id("supportsInterface(bytes4)")).call()
    assert not supports(b"\xff\xff\xff\xff").call()


def test_the_views_a_verifier_decodes_by_hand_keep_their_selectors_and_static_words() -> None:
    abi = {e["name"]: e for e in load_artifact("MachineRegistry").abi if e["type"] == "function"}
    key_of, machine_of = abi["keyOf"], abi["machineOf"]
    assert function_signature_to_4byte_selector("keyOf(address)").hex() == KEY_OF
    assert function_signature_to_4byte_selector("machineOf(uint256)").hex() == MACHINE_OF
    assert [o["type"] for o in key_of["outputs"]] == ["uint256"] + ["uint64"] * 4
    assert [o["type"] for o in machine_of["outputs"]] == [
        "bytes32", "bytes32", "address", "uint64",
    ]  # fmt: skip
