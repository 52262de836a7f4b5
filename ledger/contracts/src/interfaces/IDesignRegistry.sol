// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/**
 * @dev Proof of existence of designs: the platform registers the hash of a design file on behalf
 * of each customer organisation that holds it, named by an opaque reference (a random 32 bytes
 * per organisation) so that the chain does not reveal who the customer is. Each owner's
 * registration of a hash is its own; the first of them is the earliest proof the file existed.
 */
interface IDesignRegistry {
    /// @dev A design hash cannot be zero: zero is what an unregistered hash reads as.
    error DesignRegistryZeroHash();

    /// @dev `ownerRef` already registered `designHash` at `timestamp`.
    error DesignRegistryAlreadyRegistered(bytes32 designHash, bytes32 ownerRef, uint64 timestamp);

    /// @dev The arrays given to {registerMany} differ in length.
    error DesignRegistryLengthMismatch(uint256 hashes, uint256 ownerRefs);

    /// @dev Emitted when `designHash` is registered for the owner `ownerRef`.
    event DesignRegistered(bytes32 indexed designHash, bytes32 indexed ownerRef, uint256 timestamp);

    /**
     * @notice Registers `designHash` as existing now and held by `ownerRef`. Another owner may
     * register the same hash: each gets its own registration.
     * @dev Requires the registrar role. Reverts with {DesignRegistryZeroHash} or, if this owner
     * registered it before, {DesignRegistryAlreadyRegistered}. Emits a {DesignRegistered} event.
     */
    function register(bytes32 designHash, bytes32 ownerRef) external;

    /**
     * @notice Registers several designs in one transaction, as {register} does for each.
     * @dev Reverts with {DesignRegistryLengthMismatch} if the arrays differ in length; any refused
     * hash reverts the whole call.
     */
    function registerMany(bytes32[] calldata designHashes, bytes32[] calldata ownerRefs) external;

    /**
     * @notice The owner reference and block timestamp of the first registration of
     * `designHash` (the earliest proof that the file existed); both zero if it was never
     * registered.
     */
    function registration(
        bytes32 designHash
    ) external view returns (bytes32 ownerRef, uint64 timestamp);

    /// @notice The block timestamp of `ownerRef`'s registration of `designHash`; zero if none.
    function registrationBy(bytes32 designHash, bytes32 ownerRef) external view returns (uint64);

    /// @notice The account that registered `designHash` for `ownerRef`, or the zero address.
    function registrarOf(bytes32 designHash, bytes32 ownerRef) external view returns (address);

    // --- Licences: which shop may print which designs of a job, how many times -------------

    /// @dev Licence ids cannot be zero: zero is what an unknown licence reads as.
    error LicenceZeroId();

    /// @dev `licenceId` was already issued.
    error LicenceAlreadyIssued(bytes32 licenceId);

    /// @dev A licence names a shop and allows at least one print.
    error LicenceInvalid(address shop, uint32 printsAllowed);

    /// @dev A licence covers designs registered by the job's owner only, and at least one.
    error LicenceDesignNotRegistered(bytes32 designHash, bytes32 ownerRef);

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
     * @notice Licenses `shop` to print `designHashes` (all registered by `ownerRef`, the job's
     * owner) for job `jobId`, at most `printsAllowed` times. Each print is accounted for off
     * chain by a print ticket, anchored as a record.
     * @dev Requires the registrar role. Reverts with {LicenceZeroId}, {LicenceAlreadyIssued},
     * {LicenceInvalid} or {LicenceDesignNotRegistered}. Emits a {LicenceIssued} event.
     */
    function issueLicence(
        bytes32 licenceId,
        uint256 jobId,
        address shop,
        uint32 printsAllowed,
        bytes32 ownerRef,
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
