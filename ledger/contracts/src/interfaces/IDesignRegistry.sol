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

    // --- Licences: which shop may print which designs of a job, how many times -------------

    /// @dev Licence ids cannot be zero: zero is what an unknown licence reads as.
    error LicenceZeroId();

    /// @dev `licenceId` was already issued.
    error LicenceAlreadyIssued(bytes32 licenceId);

    /// @dev A licence names a shop and allows at least one print.
    error LicenceInvalid(address shop, uint32 printsAllowed);

    /// @dev A licence covers registered designs only, and at least one.
    error LicenceDesignNotRegistered(bytes32 designHash);

    /// @dev `licenceId` was never issued.
    error LicenceUnknown(bytes32 licenceId);

    /// @dev `licenceId` was already closed at `closedAt`.
    error LicenceAlreadyClosed(bytes32 licenceId, uint64 closedAt);

    /// @dev Emitted when `shop` is licensed to print `designHashes` of job `jobId`, at most
    /// `printsAllowed` times.
    event LicenceIssued(
        bytes32 indexed licenceId,
        uint256 indexed jobId,
        address indexed shop,
        uint32 printsAllowed,
        bytes32[] designHashes
    );

    /// @dev Emitted when the licence `licenceId` closes: no more prints are allowed.
    event LicenceClosed(bytes32 indexed licenceId, uint256 timestamp);

    /**
     * @notice Licenses `shop` to print `designHashes` (all registered) for job `jobId`, at most
     * `printsAllowed` times. Each print is accounted for off chain by a print ticket, anchored
     * as a record.
     * @dev Requires the registrar role. Reverts with {LicenceZeroId}, {LicenceAlreadyIssued},
     * {LicenceInvalid} or {LicenceDesignNotRegistered}. Emits a {LicenceIssued} event.
     */
    function issueLicence(
        bytes32 licenceId,
        uint256 jobId,
        address shop,
        uint32 printsAllowed,
        bytes32[] calldata designHashes
    ) external;

    /**
     * @notice Closes the licence `licenceId` (the order was accepted or refunded).
     * @dev Requires the registrar role. Reverts with {LicenceUnknown} or {LicenceAlreadyClosed}.
     * Emits a {LicenceClosed} event.
     */
    function closeLicence(bytes32 licenceId) external;

    /// @notice The licence `licenceId`; all zero if it was never issued.
    function licence(
        bytes32 licenceId
    )
        external
        view
        returns (
            uint256 jobId,
            address shop,
            uint32 printsAllowed,
            uint64 issuedAt,
            uint64 closedAt
        );

    /// @notice Whether the licence `licenceId` covers `designHash`.
    function licenceCovers(bytes32 licenceId, bytes32 designHash) external view returns (bool);
}
