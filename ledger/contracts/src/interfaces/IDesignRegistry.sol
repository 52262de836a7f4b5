// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/**
 * @dev Proof of existence of designs: the platform registers the hash of a design file on behalf
 * of the customer organisation that owns it, which is named by an opaque reference (e.g. the
 * keccak-256 of its id) so that the chain does not reveal who the customer is.
 */
interface IDesignRegistry {
    /// @dev A design hash cannot be zero: zero is what an unregistered hash reads as.
    error DesignRegistryZeroHash();

    /// @dev `designHash` was already registered at `timestamp`.
    error DesignRegistryAlreadyRegistered(bytes32 designHash, uint64 timestamp);

    /// @dev The arrays given to {registerMany} differ in length.
    error DesignRegistryLengthMismatch(uint256 hashes, uint256 ownerRefs);

    /// @dev Emitted when `designHash` is registered for the owner `ownerRef`.
    event DesignRegistered(bytes32 indexed designHash, bytes32 indexed ownerRef, uint256 timestamp);

    /**
     * @notice Registers `designHash` as existing now and owned by `ownerRef`.
     * @dev Requires the registrar role. Reverts with {DesignRegistryZeroHash} or
     * {DesignRegistryAlreadyRegistered}. Emits a {DesignRegistered} event.
     */
    function register(bytes32 designHash, bytes32 ownerRef) external;

    /**
     * @notice Registers several designs in one transaction, as {register} does for each.
     * @dev Reverts with {DesignRegistryLengthMismatch} if the arrays differ in length; any refused
     * hash reverts the whole call.
     */
    function registerMany(bytes32[] calldata designHashes, bytes32[] calldata ownerRefs) external;

    /**
     * @notice The owner reference and block timestamp of the registration of `designHash`; both
     * zero if it was never registered.
     */
    function registration(
        bytes32 designHash
    ) external view returns (bytes32 ownerRef, uint64 timestamp);

    /// @notice The account that registered `designHash`, or the zero address if none did.
    function registrarOf(bytes32 designHash) external view returns (address);
}
