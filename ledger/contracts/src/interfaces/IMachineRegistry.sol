// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/**
 * @dev The machines that sign their own events (DESIGN.md section 8) and their keys: each
 * machine's owner and operating shop, as opaque references (an organisation's random 32 bytes,
 * as on the DesignRegistry), and the addresses of the keys its agent made, each with the range
 * of event sequence numbers it may sign.
 *
 * A key is approved from a sequence number on and signs until the machine's next key is
 * approved (rotation: the old key's range ends where the new one's starts) or until it is
 * revoked, after which nothing it signed counts, whenever it was signed. An address is one
 * machine's key, once: approving it again, for any machine, is refused, so that old signatures
 * can never count for another machine or another range.
 *
 * A verifier holding an event that a machine signed recovers the signer's address and asks
 * {keyOf}: the event counts if the key's machine is the event's, it was approved, it is not
 * revoked, and the event's sequence is at least `firstSequence` and, if `untilSequence` is not
 * zero, below it.
 */
interface IMachineRegistry {
    /// @dev Machine ids start at 1: zero is what an unknown key's machine reads as.
    error MachineRegistryZeroMachineId();

    /// @dev An owner or operator reference cannot be zero.
    error MachineRegistryZeroRef(uint256 machineId);

    /// @dev `machineId` was registered before, at `registeredAt`; {updateMachine} changes it.
    error MachineRegistryAlreadyRegistered(uint256 machineId, uint64 registeredAt);

    /// @dev `machineId` was never registered.
    error MachineRegistryUnknownMachine(uint256 machineId);

    /// @dev {updateMachine} was given the owner and operator `machineId` already has.
    error MachineRegistryUnchanged(uint256 machineId);

    /// @dev A key cannot be the zero address.
    error MachineRegistryZeroKey(uint256 machineId);

    /// @dev Sequence numbers start at 1: an `untilSequence` of zero means "still signing".
    error MachineRegistryZeroSequence(uint256 machineId, address key);

    /// @dev `key` was approved before, for machine `machineId`: an address is used once, ever.
    error MachineRegistryKeyUsed(address key, uint256 machineId);

    /// @dev A new key's range would start before the range of the key it replaces.
    error MachineRegistrySequenceBackwards(
        uint256 machineId,
        uint64 firstSequence,
        uint64 activeFirstSequence
    );

    /// @dev `key` is not a key approved for machine `machineId`.
    error MachineRegistryNotMachineKey(uint256 machineId, address key);

    /// @dev `key` was already revoked, at `revokedAt`.
    error MachineRegistryKeyAlreadyRevoked(address key, uint64 revokedAt);

    /// @dev Emitted when machine `machineId` is registered, owned by `ownerRef` and operated by
    /// `operatorRef`.
    event MachineRegistered(
        uint256 indexed machineId,
        bytes32 indexed ownerRef,
        bytes32 indexed operatorRef
    );

    /// @dev Emitted when machine `machineId` changes hands: now owned by `ownerRef` and operated
    /// by `operatorRef`.
    event MachineUpdated(
        uint256 indexed machineId,
        bytes32 indexed ownerRef,
        bytes32 indexed operatorRef
    );

    /// @dev Emitted when `key` becomes machine `machineId`'s key, signing from `firstSequence`.
    event MachineKeyApproved(uint256 indexed machineId, address indexed key, uint64 firstSequence);

    /// @dev Emitted when `key` is replaced by the machine's next key: it signed the events below
    /// `untilSequence` only.
    event MachineKeyRetired(uint256 indexed machineId, address indexed key, uint64 untilSequence);

    /// @dev Emitted when `key` is revoked: nothing it signed counts any more.
    event MachineKeyRevoked(uint256 indexed machineId, address indexed key, uint256 timestamp);

    /**
     * @notice Registers machine `machineId`, owned by `ownerRef` and operated by `operatorRef`
     * (the same reference when the shop owns its machine).
     * @dev Requires the registrar role. Reverts with {MachineRegistryZeroMachineId},
     * {MachineRegistryZeroRef} or {MachineRegistryAlreadyRegistered}: a machine id is registered
     * once, so that a platform that counted its ids anew could not take over an existing
     * machine's record. Emits a {MachineRegistered} event.
     */
    function registerMachine(uint256 machineId, bytes32 ownerRef, bytes32 operatorRef) external;

    /**
     * @notice Records that machine `machineId` is now owned by `ownerRef` and operated by
     * `operatorRef` (sold, or leased to another shop). Its keys are unchanged.
     * @dev Requires the registrar role. Reverts with {MachineRegistryZeroRef},
     * {MachineRegistryUnknownMachine} or {MachineRegistryUnchanged}. Emits a {MachineUpdated}
     * event.
     */
    function updateMachine(uint256 machineId, bytes32 ownerRef, bytes32 operatorRef) external;

    /**
     * @notice Approves `key` as machine `machineId`'s key from event `firstSequence` on. The
     * machine's key until now, if any, is retired: it signed the events below `firstSequence`.
     * @dev Requires the registrar role. Reverts with {MachineRegistryUnknownMachine},
     * {MachineRegistryZeroKey}, {MachineRegistryZeroSequence}, {MachineRegistryKeyUsed} or
     * {MachineRegistrySequenceBackwards}. Emits {MachineKeyRetired} for the key replaced, then
     * {MachineKeyApproved}.
     */
    function approveKey(uint256 machineId, address key, uint64 firstSequence) external;

    /**
     * @notice Revokes machine `machineId`'s key `key` (lost or compromised): nothing it signed
     * counts any more. A machine whose active key is revoked has none until the next approval.
     * @dev Requires the registrar role. Reverts with {MachineRegistryNotMachineKey} or
     * {MachineRegistryKeyAlreadyRevoked}. Emits a {MachineKeyRevoked} event.
     */
    function revokeKey(uint256 machineId, address key) external;

    /**
     * @notice Machine `machineId`: its owner, its operator, the key that signs its events now
     * (the zero address if none) and the block timestamp of its registration; all zero if it was
     * never registered.
     */
    function machineOf(
        uint256 machineId
    )
        external
        view
        returns (bytes32 ownerRef, bytes32 operatorRef, address activeKey, uint64 registeredAt);

    /**
     * @notice The key `key`: its machine, the first sequence number it signs, the one its
     * successor took over from (zero while no successor did), and the block timestamps of its
     * approval and revocation (zero if not revoked); all zero if it was never approved.
     */
    function keyOf(
        address key
    )
        external
        view
        returns (
            uint256 machineId,
            uint64 firstSequence,
            uint64 untilSequence,
            uint64 approvedAt,
            uint64 revokedAt
        );
}
