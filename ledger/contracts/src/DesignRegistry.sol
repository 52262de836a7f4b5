// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IDesignRegistry} from "./interfaces/IDesignRegistry.sol";

/**
 * @dev Proof of existence of design files: each design hash is registered once, with the opaque
 * reference of its owner, the time and the registrar. Registrations are keyed by design hash
 * alone so that licences (which shop may print a design, how many times) can be added as further
 * state keyed by the same hash.
 */
contract DesignRegistry is IDesignRegistry, AccessControl {
    /// @dev Holders may register designs on behalf of their owners: the platform's operator.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    struct Registration {
        bytes32 ownerRef;
        uint64 timestamp;
        address registrar;
    }

    mapping(bytes32 designHash => Registration) private _registrations;

    /// @dev Grants the admin role to `admin` and the registrar role to `registrar`.
    constructor(address admin, address registrar) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, registrar);
    }

    /// @inheritdoc IDesignRegistry
    function register(bytes32 designHash, bytes32 ownerRef) external onlyRole(REGISTRAR_ROLE) {
        _register(designHash, ownerRef);
    }

    /// @inheritdoc IDesignRegistry
    function registerMany(
        bytes32[] calldata designHashes,
        bytes32[] calldata ownerRefs
    ) external onlyRole(REGISTRAR_ROLE) {
        if (designHashes.length != ownerRefs.length) {
            revert DesignRegistryLengthMismatch(designHashes.length, ownerRefs.length);
        }
        for (uint256 i = 0; i < designHashes.length; ++i) {
            _register(designHashes[i], ownerRefs[i]);
        }
    }

    /// @inheritdoc IDesignRegistry
    function registration(
        bytes32 designHash
    ) external view returns (bytes32 ownerRef, uint64 timestamp) {
        Registration storage entry = _registrations[designHash];
        return (entry.ownerRef, entry.timestamp);
    }

    /// @inheritdoc IDesignRegistry
    function registrarOf(bytes32 designHash) external view returns (address) {
        return _registrations[designHash].registrar;
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return
            interfaceId == type(IDesignRegistry).interfaceId ||
            super.supportsInterface(interfaceId);
    }

    function _register(bytes32 designHash, bytes32 ownerRef) private {
        if (designHash == bytes32(0)) {
            revert DesignRegistryZeroHash();
        }
        uint64 registeredAt = _registrations[designHash].timestamp;
        if (registeredAt != 0) {
            revert DesignRegistryAlreadyRegistered(designHash, registeredAt);
        }
        _registrations[designHash] = Registration({
            ownerRef: ownerRef,
            timestamp: SafeCast.toUint64(block.timestamp),
            registrar: _msgSender()
        });
        emit DesignRegistered(designHash, ownerRef, block.timestamp);
    }
}
