"""The ledger's contracts on a real anvil: every function and every refusal of RecordAnchor,
DesignRegistry and TestStablecoin, and Merkle proofs from printfair.merkle verified on chain."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import pytest
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError
from web3.types import RPCEndpoint, TxReceipt

from ledger.anvil import Anvil
from ledger.chain import operator_account, web3_client
from ledger.contracts import CustomError, contract, decode_custom_error, encode_call
from printfair.merkle import MerkleTree, record_leaf

ZERO = b"\x00" * 32
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ANCHORER_ROLE = keccak(text="ANCHORER_ROLE")
REGISTRAR_ROLE = keccak(text="REGISTRAR_ROLE")
MINTER_ROLE = keccak(text="MINTER_ROLE")
# The benchmark goal: 50 gas per record at 1,000 records per root (bench/chain.py), so one
# anchor writes a single new storage slot.
ANCHOR_GAS_LIMIT = 50_000
# An upper bound that catches an accidental extra storage slot (about 20,000 gas each).
REGISTER_GAS_LIMIT = 80_000


def h(text: str) -> bytes:
    return keccak(text=text)


def interface_id(*signatures: str) -> bytes:
    """The ERC-165 id of an interface: the XOR of its functions' selectors."""
    selectors = (int.from_bytes(function_signature_to_4byte_selector(s)) for s in signatures)
    return reduce(lambda a, b: a ^ b, selectors).to_bytes(4)


IERC165 = interface_id("supportsInterface(bytes4)")
IACCESS_CONTROL = interface_id(
    "hasRole(bytes32,address)",
    "getRoleAdmin(bytes32)",
    "grantRole(bytes32,address)",
    "revokeRole(bytes32,address)",
    "renounceRole(bytes32,address)",
)
IRECORD_ANCHOR = interface_id(
    "anchor(bytes32,uint256,uint256)",
    "anchorMany(bytes32[],uint256[],uint256[])",
    "anchoredAt(bytes32)",
    "anchorOf(bytes32)",
    "verify(bytes32[],bytes32,bytes32)",
)
IDESIGN_REGISTRY = interface_id(
    "register(bytes32,bytes32)",
    "registerMany(bytes32[],bytes32[])",
    "registration(bytes32)",
    "registrationBy(bytes32,bytes32)",
    "registrarOf(bytes32,bytes32)",
    "issueLicence(bytes32,uint256,address,uint32,bytes32,bytes32[])",
    "closeLicence(bytes32)",
    "licence(bytes32)",
    "licenceCovers(bytes32,bytes32)",
)


@dataclass(frozen=True)
class Ledger:
    w3: Web3
    anchor: Contract
    registry: Contract
    token: Contract
    operator: str
    stranger: str

    def send(self, function: ContractFunction, sender: str | None = None) -> TxReceipt:
        """Sends through anvil's unlocked accounts and waits for the (automined) receipt."""
        tx_hash = function.transact({"from": sender} if sender else {})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        return receipt

    def mined_and_reverted(self, function: ContractFunction) -> bool:
        """Whether `function` reverts when mined; a fixed gas limit skips the estimate that
        would refuse it before it is sent."""
        tx_hash = function.transact({"gas": 1_000_000})
        return self.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 0

    def timestamp(self, receipt: TxReceipt) -> int:
        return int(self.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


@pytest.fixture
def ledger(deployed: Anvil) -> Ledger:
    w3 = web3_client()
    operator = operator_account()
    # Calls and transactions come from the operator unless a test says otherwise.
    w3.eth.default_account = operator.address
    stranger = next(a for a in w3.eth.accounts if a != operator.address)
    return Ledger(
        w3=w3,
        anchor=contract(w3, "RecordAnchor"),
        registry=contract(w3, "DesignRegistry"),
        token=contract(w3, "TestStablecoin"),
        operator=operator.address,
        stranger=stranger,
    )


def refusal(
    contract_name: str, function: ContractFunction, sender: str | None = None
) -> CustomError:
    """The custom error that an eth_call of `function` of `contract_name` reverts with."""
    with pytest.raises(ContractCustomError) as info:
        function.call({"from": sender} if sender else {})
    error = decode_custom_error(contract_name, str(info.value.data))
    assert error is not None, f"not an error of {contract_name}: {info.value.data}"
    return error


# --- RecordAnchor ---------------------------------------------------------------------------


def test_anchor_stores_the_root_and_emits_root_anchored(ledger: Ledger) -> None:
    # given
    root = h("batch 7")
    # when
    receipt = ledger.send(ledger.anchor.functions.anchor(root, 12, 7))
    # then
    timestamp = ledger.timestamp(receipt)
    assert ledger.anchor.functions.anchoredAt(root).call() == timestamp
    assert ledger.anchor.functions.anchorOf(root).call() == [timestamp, 12, 7]
    (event,) = ledger.anchor.events.RootAnchored().process_receipt(receipt)
    assert event["args"] == {"root": root, "batchId": 7, "leafCount": 12}


def test_anchor_gas_for_one_root_is_under_50_gas_per_record_at_1000(ledger: Ledger) -> None:
    # a batch id as wide as the benchmark's (2**40 + n): wider calldata costs more
    receipt = ledger.send(ledger.anchor.functions.anchor(h("gas"), 1_000, 2**40 + 1))
    gas = receipt["gasUsed"]
    print(f"\nRecordAnchor.anchor, one root: {gas} gas, {gas / 1_000:.1f} gas/record at 1,000")
    assert gas < ANCHOR_GAS_LIMIT


def test_nothing_is_known_of_an_unanchored_root(ledger: Ledger) -> None:
    assert ledger.anchor.functions.anchoredAt(h("never")).call() == 0
    assert ledger.anchor.functions.anchorOf(h("never")).call() == [0, 0, 0]


def test_only_an_anchorer_may_anchor(ledger: Ledger) -> None:
    for function in (
        ledger.anchor.functions.anchor(h("x"), 1, 1),
        ledger.anchor.functions.anchorMany([h("x")], [1], [1]),
    ):
        error = refusal("RecordAnchor", function, ledger.stranger)
        assert error.name == "AccessControlUnauthorizedAccount"
        assert error.args == {"account": ledger.stranger, "neededRole": ANCHORER_ROLE}


def test_the_admin_can_make_another_account_an_anchorer(ledger: Ledger) -> None:
    ledger.send(ledger.anchor.functions.grantRole(ANCHORER_ROLE, ledger.stranger))
    ledger.send(ledger.anchor.functions.anchor(h("x"), 1, 1), sender=ledger.stranger)
    assert ledger.anchor.functions.anchoredAt(h("x")).call() > 0


def test_anchor_refuses_a_zero_root(ledger: Ledger) -> None:
    error = refusal("RecordAnchor", ledger.anchor.functions.anchor(ZERO, 1, 1))
    assert error.name == "RecordAnchorZeroRoot"


def test_anchor_refuses_a_zero_leaf_count(ledger: Ledger) -> None:
    error = refusal("RecordAnchor", ledger.anchor.functions.anchor(h("x"), 0, 1))
    assert (error.name, error.args) == ("RecordAnchorZeroLeafCount", {"root": h("x")})


def test_anchor_refuses_a_root_already_anchored(ledger: Ledger) -> None:
    # given
    first = ledger.send(ledger.anchor.functions.anchor(h("x"), 3, 1))
    # when
    error = refusal("RecordAnchor", ledger.anchor.functions.anchor(h("x"), 3, 2))
    # then
    assert error.name == "RecordAnchorRootAlreadyAnchored"
    assert error.args == {"root": h("x"), "timestamp": ledger.timestamp(first)}
    assert str(error) == (
        f"RecordAnchorRootAlreadyAnchored(root=0x{h('x').hex()}, "
        f"timestamp={ledger.timestamp(first)})"
    )


def test_batch_ids_are_labels_the_contract_does_not_check(ledger: Ledger) -> None:
    # the outbox keeps batch ids unique; on chain only roots are
    ledger.send(ledger.anchor.functions.anchor(h("x"), 3, 1))
    ledger.send(ledger.anchor.functions.anchor(h("y"), 4, 1))
    assert ledger.anchor.functions.anchorOf(h("x")).call()[1:] == [3, 1]
    assert ledger.anchor.functions.anchorOf(h("y")).call()[1:] == [4, 1]


@pytest.mark.parametrize(
    ("leaf_count", "batch_id", "bits", "value"),
    [(2**64, 1, 64, 2**64), (1, 2**128, 128, 2**128)],
    ids=["leaf count", "batch id"],
)
def test_anchor_refuses_values_too_wide_to_store(
    ledger: Ledger, leaf_count: int, batch_id: int, bits: int, value: int
) -> None:
    error = refusal("RecordAnchor", ledger.anchor.functions.anchor(h("x"), leaf_count, batch_id))
    assert (error.name, error.args) == (
        "SafeCastOverflowedUintDowncast",
        {"bits": bits, "value": value},
    )


def test_anchor_many_anchors_every_root_in_one_transaction(ledger: Ledger) -> None:
    roots = [h("a"), h("b"), h("c")]
    receipt = ledger.send(ledger.anchor.functions.anchorMany(roots, [1, 2, 3], [10, 11, 12]))
    timestamp = ledger.timestamp(receipt)
    events = ledger.anchor.events.RootAnchored().process_receipt(receipt)
    assert [e["args"] for e in events] == [
        {"root": root, "batchId": batch, "leafCount": count}
        for root, count, batch in zip(roots, [1, 2, 3], [10, 11, 12], strict=True)
    ]
    for root, count, batch in zip(roots, [1, 2, 3], [10, 11, 12], strict=True):
        assert ledger.anchor.functions.anchorOf(root).call() == [timestamp, count, batch]


@pytest.mark.parametrize(
    ("roots", "leaf_counts", "batch_ids"),
    [(2, 1, 1), (1, 2, 1), (1, 1, 2), (0, 1, 1)],
)
def test_anchor_many_refuses_arrays_of_different_lengths(
    ledger: Ledger, roots: int, leaf_counts: int, batch_ids: int
) -> None:
    function = ledger.anchor.functions.anchorMany(
        [h(str(i)) for i in range(roots)], [1] * leaf_counts, list(range(batch_ids))
    )
    error = refusal("RecordAnchor", function)
    assert error.name == "RecordAnchorLengthMismatch"
    assert error.args == {"roots": roots, "leafCounts": leaf_counts, "batchIds": batch_ids}


def test_anchor_many_is_all_or_nothing(ledger: Ledger) -> None:
    # the third root repeats the first, anchored earlier in the same call
    function = ledger.anchor.functions.anchorMany([h("a"), h("b"), h("a")], [1, 1, 1], [5, 6, 7])
    assert refusal("RecordAnchor", function).name == "RecordAnchorRootAlreadyAnchored"
    # mined anyway (a fixed gas limit skips the estimate): the first roots are not kept either
    assert ledger.mined_and_reverted(function)
    assert ledger.anchor.functions.anchoredAt(h("a")).call() == 0
    assert ledger.anchor.functions.anchoredAt(h("b")).call() == 0


def test_record_anchor_supports_its_interfaces(ledger: Ledger) -> None:
    supports = ledger.anchor.functions.supportsInterface
    assert supports(IRECORD_ANCHOR).call()
    assert supports(IACCESS_CONTROL).call()
    assert supports(IERC165).call()
    assert not supports(IDESIGN_REGISTRY).call()
    assert not supports(b"\xff\xff\xff\xff").call()


# --- Merkle proofs on chain -----------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 100])
def test_every_leaf_of_an_anchored_tree_verifies_on_chain(ledger: Ledger, size: int) -> None:
    # given
    leaves = [record_leaf(h(f"record {size}/{i}")) for i in range(size)]
    tree = MerkleTree.build(leaves)
    ledger.send(ledger.anchor.functions.anchor(tree.root, size, size))
    verify = ledger.anchor.functions.verify
    # then
    for leaf in leaves:
        assert verify(tree.proof(leaf), tree.root, leaf).call()
    assert not verify(tree.proof(leaves[0]), tree.root, record_leaf(h("not a record"))).call()
    if size > 1:
        proof = tree.proof(leaves[-1])
        tampered = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify(tampered, tree.root, leaves[-1]).call()
        # a valid proof of another leaf does not prove this one
        assert not verify(tree.proof(leaves[0]), tree.root, leaves[-1]).call()


def test_a_valid_proof_against_an_unanchored_root_does_not_verify(ledger: Ledger) -> None:
    leaves = [record_leaf(h(f"record {i}")) for i in range(5)]
    tree = MerkleTree.build(leaves)
    assert not ledger.anchor.functions.verify(tree.proof(leaves[2]), tree.root, leaves[2]).call()


def test_roots_anchored_together_verify(ledger: Ledger) -> None:
    trees = [MerkleTree.build([record_leaf(h(f"{b}/{i}")) for i in range(4)]) for b in range(3)]
    ledger.send(ledger.anchor.functions.anchorMany([t.root for t in trees], [4, 4, 4], [1, 2, 3]))
    for tree, batch in zip(trees, [1, 2, 3], strict=True):
        leaf = record_leaf(h(f"{batch - 1}/3"))
        assert ledger.anchor.functions.verify(tree.proof(leaf), tree.root, leaf).call()


# --- DesignRegistry -------------------------------------------------------------------------


def test_register_records_owner_time_and_registrar(ledger: Ledger) -> None:
    # when
    receipt = ledger.send(ledger.registry.functions.register(h("design"), h("org:1")))
    # then
    timestamp = ledger.timestamp(receipt)
    registry = ledger.registry.functions
    assert registry.registration(h("design")).call() == [h("org:1"), timestamp]
    assert registry.registrationBy(h("design"), h("org:1")).call() == timestamp
    assert registry.registrarOf(h("design"), h("org:1")).call() == ledger.operator
    (event,) = ledger.registry.events.DesignRegistered().process_receipt(receipt)
    assert event["args"] == {
        "designHash": h("design"),
        "ownerRef": h("org:1"),
        "timestamp": timestamp,
    }


def test_register_gas_for_one_design(ledger: Ledger) -> None:
    receipt = ledger.send(ledger.registry.functions.register(h("gas"), h("org:1")))
    print(f"\nDesignRegistry.register, one design: {receipt['gasUsed']} gas")
    assert receipt["gasUsed"] < REGISTER_GAS_LIMIT


def test_nothing_is_known_of_an_unregistered_design(ledger: Ledger) -> None:
    assert ledger.registry.functions.registration(h("never")).call() == [ZERO, 0]
    assert ledger.registry.functions.registrationBy(h("never"), h("org:1")).call() == 0
    assert ledger.registry.functions.registrarOf(h("never"), h("org:1")).call() == ZERO_ADDRESS


def test_only_a_registrar_may_register(ledger: Ledger) -> None:
    for function in (
        ledger.registry.functions.register(h("design"), h("org:1")),
        ledger.registry.functions.registerMany([h("design")], [h("org:1")]),
    ):
        error = refusal("DesignRegistry", function, ledger.stranger)
        assert error.name == "AccessControlUnauthorizedAccount"
        assert error.args == {"account": ledger.stranger, "neededRole": REGISTRAR_ROLE}


def test_register_refuses_a_zero_hash(ledger: Ledger) -> None:
    error = refusal("DesignRegistry", ledger.registry.functions.register(ZERO, h("org:1")))
    assert error.name == "DesignRegistryZeroHash"


def test_an_owner_registers_a_design_once_and_the_refusal_names_the_time(ledger: Ledger) -> None:
    # given
    first = ledger.send(ledger.registry.functions.register(h("design"), h("org:1")))
    # when the same owner registers it again
    function = ledger.registry.functions.register(h("design"), h("org:1"))
    error = refusal("DesignRegistry", function)
    # then
    assert error.name == "DesignRegistryAlreadyRegistered"
    assert error.args == {
        "designHash": h("design"),
        "ownerRef": h("org:1"),
        "timestamp": ledger.timestamp(first),
    }


def test_every_owner_of_the_same_file_gets_its_own_proof(ledger: Ledger) -> None:
    """Two customers holding the same file: the second is not refused, nor told of the first's
    registration through its own (issue 14, item 3); the first stays the earliest proof."""
    registry = ledger.registry.functions
    first = ledger.send(registry.register(h("design"), h("org:1")))
    ledger.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [60])
    second = ledger.send(registry.register(h("design"), h("org:2")))
    assert ledger.timestamp(second) > ledger.timestamp(first)
    assert registry.registrationBy(h("design"), h("org:1")).call() == ledger.timestamp(first)
    assert registry.registrationBy(h("design"), h("org:2")).call() == ledger.timestamp(second)
    assert registry.registration(h("design")).call() == [h("org:1"), ledger.timestamp(first)]
    (event,) = ledger.registry.events.DesignRegistered().process_receipt(second)
    assert event["args"]["ownerRef"] == h("org:2")


def test_register_many_registers_every_design(ledger: Ledger) -> None:
    hashes, owners = [h("d1"), h("d2")], [h("org:1"), h("org:2")]
    receipt = ledger.send(ledger.registry.functions.registerMany(hashes, owners))
    timestamp = ledger.timestamp(receipt)
    events = ledger.registry.events.DesignRegistered().process_receipt(receipt)
    assert [e["args"] for e in events] == [
        {"designHash": d, "ownerRef": o, "timestamp": timestamp}
        for d, o in zip(hashes, owners, strict=True)
    ]
    for design, owner in zip(hashes, owners, strict=True):
        assert ledger.registry.functions.registration(design).call() == [owner, timestamp]


def test_register_many_refuses_arrays_of_different_lengths(ledger: Ledger) -> None:
    function = ledger.registry.functions.registerMany([h("d1"), h("d2")], [h("org:1")])
    error = refusal("DesignRegistry", function)
    assert (error.name, error.args) == (
        "DesignRegistryLengthMismatch",
        {"hashes": 2, "ownerRefs": 1},
    )


def test_register_many_is_all_or_nothing(ledger: Ledger) -> None:
    function = ledger.registry.functions.registerMany([h("d1"), h("d1")], [h("o"), h("o")])
    assert refusal("DesignRegistry", function).name == "DesignRegistryAlreadyRegistered"
    assert ledger.mined_and_reverted(function)


# --- DesignRegistry licences ----------------------------------------------------------------


def licensed(ledger: Ledger, licence_id: str = "licence:1", prints: int = 52) -> TxReceipt:
    """Two registered designs licensed to the stranger (as a shop) for job 7."""
    ledger.send(ledger.registry.functions.registerMany([h("a"), h("b")], [h("o"), h("o")]))
    issue = ledger.registry.functions.issueLicence(
        h(licence_id), 7, ledger.stranger, prints, h("o"), [h("a"), h("b")]
    )
    return ledger.send(issue)


def test_a_licence_names_job_shop_prints_and_designs(ledger: Ledger) -> None:
    receipt = licensed(ledger)
    issued_at = ledger.timestamp(receipt)
    registry = ledger.registry.functions
    assert registry.licence(h("licence:1")).call() == [7, ledger.stranger, 52, issued_at, 0]
    assert registry.licenceCovers(h("licence:1"), h("a")).call() is True
    assert registry.licenceCovers(h("licence:1"), h("other")).call() is False
    (event,) = ledger.registry.events.LicenceIssued().process_receipt(receipt)
    assert event["args"] == {
        "licenceId": h("licence:1"),
        "jobId": 7,
        "shop": ledger.stranger,
        "printsAllowed": 52,
        "designHashes": [h("a"), h("b")],
    }
    # closing
    closed = ledger.send(registry.closeLicence(h("licence:1")))
    assert registry.licence(h("licence:1")).call()[4] == ledger.timestamp(closed)
    (event,) = ledger.registry.events.LicenceClosed().process_receipt(closed)
    assert event["args"] == {"licenceId": h("licence:1"), "timestamp": ledger.timestamp(closed)}
    error = refusal("DesignRegistry", registry.closeLicence(h("licence:1")))
    assert error.name == "LicenceAlreadyClosed"
    assert error.args == {"licenceId": h("licence:1"), "closedAt": ledger.timestamp(closed)}


def test_only_a_registrar_issues_and_closes_licences(ledger: Ledger) -> None:
    licensed(ledger)
    for function in (
        ledger.registry.functions.issueLicence(h("l2"), 7, ledger.stranger, 1, h("o"), [h("a")]),
        ledger.registry.functions.closeLicence(h("licence:1")),
    ):
        error = refusal("DesignRegistry", function, ledger.stranger)
        assert error.name == "AccessControlUnauthorizedAccount"


def test_issue_licence_refusals(ledger: Ledger) -> None:
    licensed(ledger)
    issue = ledger.registry.functions.issueLicence
    shop = ledger.stranger
    owner = h("o")
    cases = [
        (issue(ZERO, 7, shop, 1, owner, [h("a")]), "LicenceZeroId", {}),
        (issue(h("licence:1"), 7, shop, 1, owner, [h("a")]), "LicenceAlreadyIssued", None),
        (issue(h("l2"), 7, ZERO_ADDRESS, 1, owner, [h("a")]), "LicenceInvalid", None),
        (issue(h("l2"), 7, shop, 0, owner, [h("a")]), "LicenceInvalid", None),
        (
            issue(h("l2"), 7, shop, 1, owner, []),
            "LicenceDesignNotRegistered",
            {"designHash": ZERO, "ownerRef": owner},
        ),
        (
            issue(h("l2"), 7, shop, 1, owner, [h("a"), h("never")]),
            "LicenceDesignNotRegistered",
            {"designHash": h("never"), "ownerRef": owner},
        ),
        # another owner's registration of the same file does not license this job's owner's
        (
            issue(h("l2"), 7, shop, 1, h("someone else"), [h("a")]),
            "LicenceDesignNotRegistered",
            {"designHash": h("a"), "ownerRef": h("someone else")},
        ),
    ]
    for function, name, args in cases:
        error = refusal("DesignRegistry", function)
        assert error.name == name
        if args is not None:
            assert error.args == args
    error = refusal("DesignRegistry", ledger.registry.functions.closeLicence(h("never")))
    assert (error.name, error.args) == ("LicenceUnknown", {"licenceId": h("never")})
    assert ledger.registry.functions.licence(h("never")).call() == [0, ZERO_ADDRESS, 0, 0, 0]
    assert ledger.registry.functions.registration(h("d1")).call() == [ZERO, 0]


def test_design_registry_supports_its_interfaces(ledger: Ledger) -> None:
    supports = ledger.registry.functions.supportsInterface
    assert supports(IDESIGN_REGISTRY).call()
    assert supports(IACCESS_CONTROL).call()
    assert supports(IERC165).call()
    assert not supports(IRECORD_ANCHOR).call()


# --- TestStablecoin -------------------------------------------------------------------------


def test_the_test_stablecoin_is_six_decimal_tusd(ledger: Ledger) -> None:
    assert ledger.token.functions.name().call() == "PrintFair Test USD"
    assert ledger.token.functions.symbol().call() == "tUSD"
    assert ledger.token.functions.decimals().call() == 6
    assert ledger.token.functions.totalSupply().call() == 0


def test_the_minter_mints(ledger: Ledger) -> None:
    receipt = ledger.send(ledger.token.functions.mint(ledger.stranger, 25_000_000))
    assert ledger.token.functions.balanceOf(ledger.stranger).call() == 25_000_000
    assert ledger.token.functions.totalSupply().call() == 25_000_000
    (event,) = ledger.token.events.Transfer().process_receipt(receipt)
    assert event["args"] == {"from": ZERO_ADDRESS, "to": ledger.stranger, "value": 25_000_000}


def test_only_a_minter_may_mint(ledger: Ledger) -> None:
    function = ledger.token.functions.mint(ledger.stranger, 1)
    error = refusal("TestStablecoin", function, ledger.stranger)
    assert error.name == "AccessControlUnauthorizedAccount"
    assert error.args == {"account": ledger.stranger, "neededRole": MINTER_ROLE}


def test_mint_refuses_the_zero_address(ledger: Ledger) -> None:
    error = refusal("TestStablecoin", ledger.token.functions.mint(ZERO_ADDRESS, 1))
    assert (error.name, error.args) == ("ERC20InvalidReceiver", {"receiver": ZERO_ADDRESS})


def test_tokens_transfer_as_erc20(ledger: Ledger) -> None:
    ledger.send(ledger.token.functions.mint(ledger.stranger, 10))
    ledger.send(ledger.token.functions.transfer(ledger.operator, 4), sender=ledger.stranger)
    assert ledger.token.functions.balanceOf(ledger.operator).call() == 4
    function = ledger.token.functions.transfer(ledger.operator, 7)
    error = refusal("TestStablecoin", function, ledger.stranger)
    assert error.name == "ERC20InsufficientBalance"
    assert error.args == {"sender": ledger.stranger, "balance": 6, "needed": 7}


def test_decode_custom_error_ignores_other_revert_data() -> None:
    # Error(string) "nope", as a require with a message reverts
    data = "0x08c379a0" + "20".rjust(64, "0") + "4".rjust(64, "0") + b"nope".hex().ljust(64, "0")
    assert decode_custom_error("RecordAnchor", data) is None


def test_encode_call_matches_web3s_encoding(ledger: Ledger) -> None:
    """The sender encodes outbox rows (JSON: 0x-hex bytes, checksummed addresses) with eth_abi
    directly; web3's contract layer must agree byte for byte."""
    house = contract(ledger.w3, "AuctionHouse")
    shop = operator_account().address
    commitment, signature = "0x" + "ab" * 32, "0x" + "cd" * 65
    columns = [[7, 8], [shop, shop], [commitment, commitment], [1, 2], [signature, signature]]
    assert encode_call("AuctionHouse", "commitMany", columns) == bytes(
        HexBytes(house.functions.commitMany(*columns)._encode_transaction_data())
    )
    args = [7, shop, commitment, 1, signature]
    assert encode_call("AuctionHouse", "commitFor", args) == bytes(
        HexBytes(house.functions.commitFor(*args)._encode_transaction_data())
    )
    with pytest.raises(ValueError, match="takes 5 arguments, not 4"):
        encode_call("AuctionHouse", "commitFor", args[:4])
    with pytest.raises(LookupError, match="0 functions named 'nothing'"):
        encode_call("AuctionHouse", "nothing", [])
