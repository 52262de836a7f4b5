"""Merkle trees for anchoring record batches: OpenZeppelin's StandardMerkleTree, bit for bit.

A batch of records is anchored on chain as one Merkle root, and each record keeps its proof. The
tree is exactly the one ``StandardMerkleTree.of(values, types)`` of ``@openzeppelin/merkle-tree``
v1 builds (with its default ``sortLeaves: true``), so roots and proofs made here are the ones the
JavaScript library makes, and they verify with Solidity's ``MerkleProof.verify``:

- A leaf is ``keccak256(keccak256(abi.encode(types, values)))``. Hashing twice makes a leaf's
  preimage a 32-byte hash while an internal node's preimage is 64 bytes, so an internal node
  cannot be passed off as a leaf (a second-preimage attack on the tree).
- An internal node is ``keccak256`` of its two children concatenated smaller first (compared as
  unsigned big-endian integers). Commutative hashing lets a proof be a plain list of siblings,
  with no left/right flags; it is what ``MerkleProof.processProof`` computes.
- The tree is a complete binary tree in an array: node ``i`` has children ``2i + 1`` and
  ``2i + 2``, the root is node 0, and ``n`` leaves make ``2n - 1`` nodes. The leaves are sorted
  ascending and fill the end of the array in reverse order, so the smallest leaf is last.

A record's leaf is ``record_leaf(record_hash(record))``, i.e. the leaf of the value
``[record_hash]`` under the types ``["bytes32"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

__all__ = [
    "NODE_SIZE",
    "MerkleTree",
    "leaf_hash",
    "process_proof",
    "record_leaf",
    "verify_proof",
]

NODE_SIZE: Final = 32


def leaf_hash(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """Return the StandardMerkleTree leaf of ``values`` ABI-encoded as ``types``.

    This is ``keccak256(keccak256(abi.encode(types, values)))``, OpenZeppelin's
    ``standardLeafHash``. Values are given as ``eth_abi`` takes them (``int`` for integers,
    ``bytes`` for ``bytesN`` and ``bytes``, hex strings for addresses); a value that does not fit
    its type raises ``eth_abi.exceptions.EncodingError``.
    """
    if len(types) != len(values):
        raise ValueError(f"{len(types)} types but {len(values)} values")
    return keccak(keccak(abi_encode(types, values)))


def record_leaf(record_hash: bytes) -> bytes:
    """Return the leaf of a record hash: ``leaf_hash(["bytes32"], [record_hash])``."""
    _check_node(record_hash, "record hash")
    # abi.encode of a single bytes32 is those 32 bytes, so skip the encoder: it costs about as
    # much as a hash, and whole batches of records go through here.
    return keccak(keccak(record_hash))


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root that ``proof`` leads to from ``leaf`` (``MerkleProof.processProof``)."""
    _check_node(leaf, "leaf")
    node = leaf
    for sibling in proof:
        _check_node(sibling, "proof element")
        node = _hash_pair(node, sibling)
    return node


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """Return whether ``proof`` proves ``leaf`` (a leaf hash) in the tree with ``root``.

    Same semantics as OpenZeppelin's ``MerkleProof.verify``. Every argument must be 32 bytes
    (as a Solidity ``bytes32`` is); anything else raises ``ValueError`` rather than returning
    ``False``, since it can only be a caller's mistake.
    """
    _check_node(root, "root")
    return process_proof(leaf, proof) == root


class MerkleTree:
    """An OpenZeppelin standard Merkle tree over leaf hashes; build one with ``build()``."""

    __slots__ = ("_nodes", "_positions")

    def __init__(self, nodes: list[bytes]) -> None:
        """Wrap the node array of a tree (root first); ``build()`` is the way to make one."""
        self._nodes = nodes
        first_leaf = len(nodes) // 2
        # OpenZeppelin proves a duplicated leaf at the copy nearest the root (its lookup table
        # keeps the last one written), so positions are filled from the back of the array.
        self._positions = {nodes[i]: i for i in range(len(nodes) - 1, first_leaf - 1, -1)}

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        """Build the tree of ``leaves``, which are leaf hashes (``record_leaf``, ``leaf_hash``).

        The order of ``leaves`` does not matter; duplicates are allowed, as in OpenZeppelin's
        library. Raises ``ValueError`` if there are no leaves or a leaf is not 32 bytes.
        """
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        for leaf in leaves:
            _check_node(leaf, "leaf")
        count = len(leaves)
        # Internal nodes first (filled in below, children before parents), then the leaves in
        # descending order. Bytes compare like the unsigned big-endian integers OpenZeppelin
        # sorts by, and equal leaves are interchangeable, so any sort order of ties will do.
        nodes = [b""] * (count - 1) + sorted(leaves, reverse=True)
        for i in range(count - 2, -1, -1):
            nodes[i] = _hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        return cls(nodes)

    @property
    def root(self) -> bytes:
        """The Merkle root (32 bytes), the value anchored on chain."""
        return self._nodes[0]

    def __len__(self) -> int:
        """The number of leaves, duplicates included."""
        return len(self._nodes) // 2 + 1

    def proof(self, leaf: bytes) -> list[bytes]:
        """Return the proof of ``leaf`` (a leaf hash): its siblings from the bottom up.

        The proof of the only leaf of a one-leaf tree is empty (the leaf is the root). Raises
        ``ValueError`` if ``leaf`` is not in the tree.
        """
        try:
            index = self._positions[leaf]
        except KeyError:
            raise ValueError(f"leaf 0x{leaf.hex()} is not in the tree") from None
        nodes = self._nodes
        proof = []
        while index > 0:
            # Left children have odd indices, so their sibling is the next node.
            proof.append(nodes[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        return proof


def _hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative node hash: keccak-256 of the two nodes, smaller first."""
    return keccak(a + b if a <= b else b + a)


def _check_node(node: bytes, what: str) -> None:
    if len(node) != NODE_SIZE:
        raise ValueError(f"{what} must be {NODE_SIZE} bytes, got {len(node)} bytes")
