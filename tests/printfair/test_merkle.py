"""Tests for the record Merkle tree (printfair.merkle), against OpenZeppelin's JavaScript library.

The interop tests run ``merkle_interop.mjs`` with node, which builds the tree with the real
``@openzeppelin/merkle-tree`` from ``node_modules``; node is installed wherever the tests run.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from printfair.merkle import (
    MerkleTree,
    leaf_hash,
    process_proof,
    record_leaf,
    verify_proof,
)

ROOT_DIR = Path(__file__).resolve().parents[2]
INTEROP_SCRIPT = Path(__file__).with_name("merkle_interop.mjs")

# The example of @openzeppelin/merkle-tree's README, and the root its library gives for it.
README_TYPES = ["address", "uint256"]
README_VALUES: list[list[Any]] = [
    ["0x1111111111111111111111111111111111111111", 5000000000000000000],
    ["0x2222222222222222222222222222222222222222", 2500000000000000000],
]
README_ROOT = bytes.fromhex("d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77")

hashes = st.binary(min_size=32, max_size=32)


def flip_bit(node: bytes, bit: int) -> bytes:
    flipped = bytearray(node)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def to_js(value: Any) -> Any:
    """Return ``value`` as the JS library takes it: numbers as decimal strings, bytes as hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list):
        return [to_js(item) for item in value]
    return value


def openzeppelin_tree(
    tmp_path: Path, types: Sequence[str], values: Sequence[Sequence[Any]]
) -> tuple[bytes, list[bytes], list[list[bytes]]]:
    """Build ``StandardMerkleTree.of(values, types)`` in node; return root, leaves and proofs.

    Leaves and proofs are per value, in the order of ``values``.
    """
    node = shutil.which("node")
    assert node is not None, "node is needed for the interop tests (and installed in CI)"
    source = tmp_path / "values.json"
    source.write_text(json.dumps({"types": list(types), "values": to_js(list(map(list, values)))}))
    # Our own script and a temporary file we just wrote: nothing untrusted reaches the command.
    result = subprocess.run(  # noqa: S603
        [node, str(INTEROP_SCRIPT), str(source)],
        cwd=ROOT_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    output = json.loads(result.stdout)
    leaves = [bytes.fromhex(leaf["hash"][2:]) for leaf in output["leaves"]]
    proofs = [[bytes.fromhex(node[2:]) for node in leaf["proof"]] for leaf in output["leaves"]]
    return bytes.fromhex(output["root"][2:]), leaves, proofs


def random_hashes(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(32) for _ in range(count)]


FOUR = random_hashes(4, 4)


# --- interop with @openzeppelin/merkle-tree ------------------------------------------------------


@pytest.mark.parametrize(
    "record_hashes",
    [
        pytest.param(random_hashes(1, 1), id="1 record"),
        pytest.param(random_hashes(2, 2), id="2 records"),
        pytest.param(random_hashes(3, 3), id="3 records"),
        pytest.param(random_hashes(7, 7), id="7 records"),
        pytest.param(random_hashes(100, 100), id="100 records"),
        pytest.param([FOUR[i] for i in (0, 1, 0, 2, 3, 1, 0)], id="duplicated records"),
    ],
)
def test_same_root_and_proofs_as_openzeppelin(tmp_path: Path, record_hashes: list[bytes]) -> None:
    # given the JS library's tree of the record hashes, each as the value [hash] of type bytes32
    their_root, their_leaves, their_proofs = openzeppelin_tree(
        tmp_path, ["bytes32"], [[h] for h in record_hashes]
    )

    # when we build ours from the same records, in a different order
    leaves = [record_leaf(h) for h in record_hashes]
    tree = MerkleTree.build(leaves[::-1])

    # then leaves, root and every proof are identical, and their proofs verify here
    assert leaves == their_leaves
    assert tree.root == their_root
    assert len(tree) == len(record_hashes)
    for leaf, their_proof in zip(leaves, their_proofs, strict=True):
        assert tree.proof(leaf) == their_proof
        assert verify_proof(their_root, leaf, their_proof)


@pytest.mark.parametrize(
    ("types", "values"),
    [
        pytest.param(README_TYPES, README_VALUES, id="readme address,uint256"),
        pytest.param(
            ["string", "bytes", "uint8[]", "bool", "int256", "bytes4"],
            [
                ["Layer Works", b"\x00\xff" * 40, [1, 2, 3], True, -(2**200), b"\xde\xad\xbe\xef"],
                ["", b"", [], False, 2**255 - 1, b"\x00\x00\x00\x00"],
                ["Grüße 😀", b"\x01", [255], True, -1, b"\x12\x34\x56\x78"],
            ],
            id="dynamic and signed types",
        ),
    ],
)
def test_leaf_hash_matches_openzeppelin_for_any_types(
    tmp_path: Path, types: list[str], values: list[list[Any]]
) -> None:
    their_root, their_leaves, their_proofs = openzeppelin_tree(tmp_path, types, values)

    leaves = [leaf_hash(types, value) for value in values]
    tree = MerkleTree.build(leaves)

    assert leaves == their_leaves
    assert tree.root == their_root
    assert [tree.proof(leaf) for leaf in leaves] == their_proofs


def test_readme_example_root() -> None:
    leaves = [leaf_hash(README_TYPES, value) for value in README_VALUES]

    assert MerkleTree.build(leaves).root == README_ROOT


# --- structure -----------------------------------------------------------------------------------


def test_record_leaf_is_the_bytes32_leaf_hash() -> None:
    record_hash = bytes(range(32))

    assert record_leaf(record_hash) == leaf_hash(["bytes32"], [record_hash])
    assert record_leaf(record_hash) == keccak(keccak(record_hash))


def test_one_leaf_is_its_own_root_with_an_empty_proof() -> None:
    leaf = record_leaf(bytes(32))

    tree = MerkleTree.build([leaf])

    assert tree.root == leaf
    assert tree.proof(leaf) == []
    assert len(tree) == 1
    assert verify_proof(leaf, leaf, [])


def test_two_leaves_hash_as_a_sorted_pair() -> None:
    low, high = b"\x01" * 32, b"\xfe" * 32

    tree = MerkleTree.build([high, low])

    assert tree.root == keccak(low + high)
    assert tree.proof(low) == [high]
    assert tree.proof(high) == [low]


def test_three_leaves_follow_the_openzeppelin_layout() -> None:
    # Sorted leaves a < b < c fill the array [root, n1, c, b, a] from the end: a at index 4,
    # b at 3, c at 2; n1 = hash(b, a) at 1 and the root = hash(n1, c).
    a, b, c = (bytes([n]) * 32 for n in (1, 2, 3))
    n1 = keccak(a + b)

    tree = MerkleTree.build([c, a, b])

    assert tree.root == keccak(min(n1, c) + max(n1, c))
    assert tree.proof(a) == [b, c]
    assert tree.proof(b) == [a, c]
    assert tree.proof(c) == [n1]


def test_process_proof_returns_the_root() -> None:
    leaves = random_hashes(5, 5)
    tree = MerkleTree.build(leaves)

    assert all(process_proof(leaf, tree.proof(leaf)) == tree.root for leaf in leaves)


# --- properties ----------------------------------------------------------------------------------


@given(st.lists(hashes, min_size=1, max_size=200))
def test_every_proof_verifies(leaves: list[bytes]) -> None:
    tree = MerkleTree.build(leaves)

    assert len(tree) == len(leaves)
    for leaf in leaves:
        assert verify_proof(tree.root, leaf, tree.proof(leaf))


@given(st.lists(hashes, min_size=1, max_size=200), st.data())
def test_a_proof_proves_only_its_own_leaf(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.build(leaves)
    leaf = data.draw(st.sampled_from(leaves), label="leaf")
    proof = tree.proof(leaf)
    other_leaf = data.draw(hashes.filter(lambda h: h != leaf), label="other leaf")
    other_root = data.draw(hashes.filter(lambda h: h != tree.root), label="other root")

    assert not verify_proof(tree.root, other_leaf, proof)
    assert not verify_proof(other_root, leaf, proof)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        bit = data.draw(st.integers(0, 255), label="bit")
        tampered = [*proof[:position], flip_bit(proof[position], bit), *proof[position + 1 :]]
        assert not verify_proof(tree.root, leaf, tampered)
        assert not verify_proof(tree.root, leaf, proof[:-1])


@given(st.lists(hashes, min_size=1, max_size=50), st.randoms())
def test_leaf_order_does_not_matter(leaves: list[bytes], rng: random.Random) -> None:
    shuffled = list(leaves)
    rng.shuffle(shuffled)

    assert MerkleTree.build(shuffled).root == MerkleTree.build(leaves).root


# --- errors --------------------------------------------------------------------------------------


def test_an_empty_tree_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree.build([])


def test_a_leaf_that_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="leaf must be 32 bytes, got 31 bytes"):
        MerkleTree.build([bytes(32), bytes(31)])


def test_proof_of_a_leaf_not_in_the_tree_is_refused() -> None:
    tree = MerkleTree.build(random_hashes(3, 3))

    with pytest.raises(ValueError, match="is not in the tree"):
        tree.proof(bytes(32))


@pytest.mark.parametrize(
    ("root", "leaf", "proof", "message"),
    [
        (bytes(31), bytes(32), [], "root must be 32 bytes"),
        (bytes(32), bytes(33), [], "leaf must be 32 bytes"),
        (bytes(32), bytes(32), [bytes(32), b"\x01"], "proof element must be 32 bytes"),
    ],
)
def test_verify_proof_refuses_nodes_that_are_not_32_bytes(
    root: bytes, leaf: bytes, proof: list[bytes], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        verify_proof(root, leaf, proof)


def test_record_leaf_needs_a_32_byte_hash() -> None:
    # abi.encode would silently pad a short bytes32 value, so record_leaf must refuse it.
    with pytest.raises(ValueError, match="record hash must be 32 bytes, got 20 bytes"):
        record_leaf(bytes(20))


def test_leaf_hash_needs_one_value_per_type() -> None:
    with pytest.raises(ValueError, match="2 types but 1 values"):
        leaf_hash(["address", "uint256"], ["0x1111111111111111111111111111111111111111"])
