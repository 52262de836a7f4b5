// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMachineRegistry} from "./interfaces/IMachineRegistry.sol";

/**
 * @dev The machines that sign their own events, their owners and operating shops, and their
 * keys with the range of sequence numbers each may sign (see {IMachineRegistry}). The platform
 * registers them as the shops pair their machines' agents; anyone checks a signed event against
 * {keyOf} without asking the platform.
 */
contract MachineRegistry is IMachineRegistry, AccessControl {
    /// @dev Holders may register machines and approve or revoke their keys: the platform's
    /// operator, acting for the shop that paired the machine.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    struct Machine {
        bytes32 ownerRef;
        bytes32 operatorRef;
        address activeKey;
        uint64 registeredAt;
    }

    struct Key {
        uint256 machineId;
        uint64 firstSequence;
        uint64 untilSequence;
        uint64 approvedAt;
        uint64 revokedAt;
    }

    mapping(uint256 machineId => Machine) private _machines;
    mapping(address key => Key) private _keys;

    /// @dev Grants the admin role to `admin` and the registrar role to `registrar`.
    constructor(address admin, address registrar) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, registrar);
    }

    /// @inheritdoc IMachineRegistry
    function registerMachine(
        uint256 machineId,
        bytes32 ownerRef,
        bytes32 operatorRef
    ) external onlyRole(REGISTRAR_ROLE) {
        if (machineId == 0) {
            revert MachineRegistryZeroMachineId();
        }
        _checkRefs(machineId, ownerRef, operatorRef);
        Machine storage machine = _machines[machineId];
        if (machine.registeredAt != 0) {
            revert MachineRegistryAlreadyRegistered(machineId, machine.registeredAt);
        }
        machine.ownerRef = ownerRef;
        machine.operatorRef = operatorRef;
        machine.registeredAt = SafeCast.toUint64(block.timestamp);
        emit MachineRegistered(machineId, ownerRef, operatorRef);
    }

    /// @inheritdoc IMachineRegistry
    function updateMachine(
        uint256 machineId,
        bytes32 ownerRef,
        bytes32 operatorRef
    ) external onlyRole(REGISTRAR_ROLE) {
        _checkRefs(machineId, ownerRef, operatorRef);
        Machine storage machine = _registered(machineId);
        if (machine.ownerRef == ownerRef && machine.operatorRef == operatorRef) {
            revert MachineRegistryUnchanged(machineId);
        }
        machine.ownerRef = ownerRef;
        machine.operatorRef = operatorRef;
        emit MachineUpdated(machineId, ownerRef, operatorRef);
    }

    /// @inheritdoc IMachineRegistry
    function approveKey(
        uint256 machineId,
        address key,
        uint64 firstSequence
    ) external onlyRole(REGISTRAR_ROLE) {
        Machine storage machine = _registered(machineId);
        if (key == address(0)) {
            revert MachineRegistryZeroKey(machineId);
        }
        if (firstSequence == 0) {
            revert MachineRegistryZeroSequence(machineId, key);
        }
        Key storage entry = _keys[key];
        if (entry.approvedAt != 0) {
            revert MachineRegistryKeyUsed(key, entry.machineId);
        }
        address previous = machine.activeKey;
        if (previous != address(0)) {
            Key storage replaced = _keys[previous];
            if (firstSequence < replaced.firstSequence) {
                revert MachineRegistrySequenceBackwards(
                    machineId,
                    firstSequence,
                    replaced.firstSequence
                );
            }
            replaced.untilSequence = firstSequence;
            emit MachineKeyRetired(machineId, previous, firstSequence);
        }
        machine.activeKey = key;
        entry.machineId = machineId;
        entry.firstSequence = firstSequence;
        entry.approvedAt = SafeCast.toUint64(block.timestamp);
        emit MachineKeyApproved(machineId, key, firstSequence);
    }

    /// @inheritdoc IMachineRegistry
    function revokeKey(uint256 machineId, address key) external onlyRole(REGISTRAR_ROLE) {
        Key storage entry = _keys[key];
        // An unknown key reads as machine 0, which is never registered: the approval is checked
        // so that machine id 0 cannot name it.
        if (entry.approvedAt == 0 || entry.machineId != machineId) {
            revert MachineRegistryNotMachineKey(machineId, key);
        }
        if (entry.revokedAt != 0) {
            revert MachineRegistryKeyAlreadyRevoked(key, entry.revokedAt);
        }
        entry.revokedAt = SafeCast.toUint64(block.timestamp);
        Machine storage machine = _machines[machineId];
        if (machine.activeKey == key) {
            machine.activeKey = address(0);
        }
        emit MachineKeyRevoked(machineId, key, block.timestamp);
    }

    /// @inheritdoc IMachineRegistry
    function machineOf(
        uint256 machineId
    )
        external
        view
        returns (bytes32 ownerRef, bytes32 operatorRef, address activeKey, uint64 registeredAt)
    {
        Machine storage machine = _machines[machineId];
        return (machine.ownerRef, machine.operatorRef, machine.activeKey, machine.registeredAt);
    }

    /// @inheritdoc IMachineRegistry
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
        )
    {
        Key storage entry = _keys[key];
        return (
            entry.machineId,
            entry.firstSequence,
            entry.untilSequence,
            entry.approvedAt,
            entry.revokedAt
        );
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return
            interfaceId == type(IMachineRegistry).interfaceId ||
            super.supportsInterface(interfaceId);
    }

    function _registered(uint256 machineId) private view returns (Machine storage machine) {
        machine = _machines[machineId];
        if (machine.registeredAt == 0) {
            revert MachineRegistryUnknownMachine(machineId);
        }
    }

    function _checkRefs(uint256 machineId, bytes32 ownerRef, bytes32 operatorRef) private pure {
        if (ownerRef == bytes32(0) || operatorRef == bytes32(0)) {
            revert MachineRegistryZeroRef(machineId);
        }
    }
}
