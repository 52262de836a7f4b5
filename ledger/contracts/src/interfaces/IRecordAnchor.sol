// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/**
 * @dev Merkle roots of batches of off-chain records (quality records, production events, print
 * tickets, design registrations), so that anyone can check that a record was part of an anchored
 * batch. Leaves are in OpenZeppelin's StandardMerkleTree form (double keccak-256).
 *
 * A root is anchored at most once. A batch id is a label that the platform's outbox assigns, and
 * keeps unique, to tie a root to its batch: it is stored with the root and emitted in
 * {RootAnchored}, but not checked for reuse on chain, because that would cost a second storage
 * slot per anchor (about 22,000 gas) for a guarantee the platform already gives.
 */
interface IRecordAnchor {
    /// @dev A root cannot be zero: zero is what an unanchored root reads as.
    error RecordAnchorZeroRoot();

    /// @dev A batch has at least one leaf.
    error RecordAnchorZeroLeafCount(bytes32 root);

    /// @dev `root` was already anchored at `timestamp`.
    error RecordAnchorRootAlreadyAnchored(bytes32 root, uint256 timestamp);

    /// @dev The arrays given to {anchorMany} differ in length.
    error RecordAnchorLengthMismatch(uint256 roots, uint256 leafCounts, uint256 batchIds);

    /**
     * @dev Emitted when `root`, the root of batch `batchId` of `leafCount` records, is anchored.
     * The time is the block's timestamp, which {anchoredAt} also returns: not repeated here, to
     * keep the log one data word.
     */
    event RootAnchored(bytes32 indexed root, uint256 indexed batchId, uint256 leafCount);

    /**
     * @notice Anchors `root`, the Merkle root of batch `batchId` of `leafCount` records.
     * @dev Requires the anchorer role. Reverts with {RecordAnchorZeroRoot},
     * {RecordAnchorZeroLeafCount} or {RecordAnchorRootAlreadyAnchored}; `batchId` is not checked
     * for reuse. Emits a {RootAnchored} event.
     */
    function anchor(bytes32 root, uint256 leafCount, uint256 batchId) external;

    /**
     * @notice Anchors several roots in one transaction, as {anchor} does for each.
     * @dev Reverts with {RecordAnchorLengthMismatch} if the arrays differ in length; any refused
     * root reverts the whole call.
     */
    function anchorMany(
        bytes32[] calldata roots,
        uint256[] calldata leafCounts,
        uint256[] calldata batchIds
    ) external;

    /// @notice The block timestamp at which `root` was anchored, or 0 if it never was.
    function anchoredAt(bytes32 root) external view returns (uint256);

    /// @notice Everything recorded for `root`; all zero if it was never anchored.
    function anchorOf(
        bytes32 root
    ) external view returns (uint256 timestamp, uint256 leafCount, uint256 batchId);

    /**
     * @notice Whether `leaf` belongs to the tree of `root` (by `proof`) and `root` is anchored.
     * @dev `proof` is a sorted-pair proof as OpenZeppelin's MerkleProof and StandardMerkleTree
     * produce.
     */
    function verify(
        bytes32[] calldata proof,
        bytes32 root,
        bytes32 leaf
    ) external view returns (bool);
}
