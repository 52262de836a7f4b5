// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRecordAnchor} from "./interfaces/IRecordAnchor.sol";

/**
 * @dev Keeps the Merkle root of each batch of records with the time it was anchored, its leaf
 * count and its batch id, so that contracts and anyone else can check a record's inclusion
 * against a root the platform committed to at a known time.
 *
 * An anchor writes exactly one new storage slot, keyed by root, which keeps one {anchor} under
 * 50,000 gas (50 gas per record at 1,000 records). Roots are unique on chain. Batch ids are not:
 * they are labels that the platform's outbox assigns and keeps unique, stored with the root and
 * emitted in {RootAnchored} for the indexer; checking them here would take a second new slot per
 * anchor (batch id to root), about 22,000 gas more.
 */
contract RecordAnchor is IRecordAnchor, AccessControl {
    /// @dev Holders may anchor roots: the platform's operator (relayer) account.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    // All an anchor stores, in the one slot it writes: bits 0-63 the timestamp, 64-127 the leaf
    // count, 128-255 the batch id; zero if never anchored. The widths hold any realistic value and
    // SafeCast refuses the rest. A plain word, not a struct: solc re-reads a struct's slot before
    // writing it, about 380 gas more per anchor.
    mapping(bytes32 root => uint256 packed) private _anchors;

    /// @dev Grants the admin role to `admin` and the anchorer role to `anchorer`.
    constructor(address admin, address anchorer) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, anchorer);
    }

    /// @inheritdoc IRecordAnchor
    function anchor(
        bytes32 root,
        uint256 leafCount,
        uint256 batchId
    ) external onlyRole(ANCHORER_ROLE) {
        _anchor(root, leafCount, batchId);
    }

    /// @inheritdoc IRecordAnchor
    function anchorMany(
        bytes32[] calldata roots,
        uint256[] calldata leafCounts,
        uint256[] calldata batchIds
    ) external onlyRole(ANCHORER_ROLE) {
        if (roots.length != leafCounts.length || roots.length != batchIds.length) {
            revert RecordAnchorLengthMismatch(roots.length, leafCounts.length, batchIds.length);
        }
        for (uint256 i = 0; i < roots.length; ++i) {
            _anchor(roots[i], leafCounts[i], batchIds[i]);
        }
    }

    /// @inheritdoc IRecordAnchor
    function anchoredAt(bytes32 root) external view returns (uint256) {
        return uint64(_anchors[root]);
    }

    /// @inheritdoc IRecordAnchor
    function anchorOf(
        bytes32 root
    ) external view returns (uint256 timestamp, uint256 leafCount, uint256 batchId) {
        uint256 packed = _anchors[root];
        return (uint64(packed), uint64(packed >> 64), packed >> 128);
    }

    /// @inheritdoc IRecordAnchor
    function verify(
        bytes32[] calldata proof,
        bytes32 root,
        bytes32 leaf
    ) external view returns (bool) {
        return uint64(_anchors[root]) != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return
            interfaceId == type(IRecordAnchor).interfaceId || super.supportsInterface(interfaceId);
    }

    function _anchor(bytes32 root, uint256 leafCount, uint256 batchId) private {
        if (root == bytes32(0)) {
            revert RecordAnchorZeroRoot();
        }
        if (leafCount == 0) {
            revert RecordAnchorZeroLeafCount(root);
        }
        uint256 anchored = _anchors[root];
        if (anchored != 0) {
            revert RecordAnchorRootAlreadyAnchored(root, uint64(anchored));
        }
        _anchors[root] =
            SafeCast.toUint64(block.timestamp) |
            (uint256(SafeCast.toUint64(leafCount)) << 64) |
            (uint256(SafeCast.toUint128(batchId)) << 128);
        emit RootAnchored(root, batchId, leafCount);
    }
}
