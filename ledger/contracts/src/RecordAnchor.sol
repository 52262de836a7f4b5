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
 */
contract RecordAnchor is IRecordAnchor, AccessControl {
    /// @dev Holders may anchor roots: the platform's operator (relayer) account.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    // One storage slot per root: the widths hold any realistic value; SafeCast refuses the rest.
    struct Anchor {
        uint64 timestamp;
        uint64 leafCount;
        uint128 batchId;
    }

    mapping(bytes32 root => Anchor) private _anchors;
    mapping(uint256 batchId => bytes32 root) private _roots;

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
        return _anchors[root].timestamp;
    }

    /// @inheritdoc IRecordAnchor
    function anchorOf(
        bytes32 root
    ) external view returns (uint256 timestamp, uint256 leafCount, uint256 batchId) {
        Anchor storage entry = _anchors[root];
        return (entry.timestamp, entry.leafCount, entry.batchId);
    }

    /// @inheritdoc IRecordAnchor
    function rootOf(uint256 batchId) external view returns (bytes32) {
        return _roots[batchId];
    }

    /// @inheritdoc IRecordAnchor
    function verify(
        bytes32[] calldata proof,
        bytes32 root,
        bytes32 leaf
    ) external view returns (bool) {
        return _anchors[root].timestamp != 0 && MerkleProof.verifyCalldata(proof, root, leaf);
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
        uint64 anchoredTimestamp = _anchors[root].timestamp;
        if (anchoredTimestamp != 0) {
            revert RecordAnchorRootAlreadyAnchored(root, anchoredTimestamp);
        }
        bytes32 batchRoot = _roots[batchId];
        if (batchRoot != bytes32(0)) {
            revert RecordAnchorBatchIdUsed(batchId, batchRoot);
        }
        _anchors[root] = Anchor({
            timestamp: SafeCast.toUint64(block.timestamp),
            leafCount: SafeCast.toUint64(leafCount),
            batchId: SafeCast.toUint128(batchId)
        });
        _roots[batchId] = root;
        emit RootAnchored(root, batchId, leafCount, block.timestamp);
    }
}
