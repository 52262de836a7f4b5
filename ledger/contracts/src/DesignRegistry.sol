// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IDesignRegistry} from "./interfaces/IDesignRegistry.sol";

/**
 * @dev Proof of existence of design files: each owner (an opaque reference) registers a design
 * hash once, with the time and the registrar. Registrations are keyed by design hash and owner,
 * so that two owners who hold the same file each get their own proof; the first registration of
 * a hash is kept apart, as the earliest proof that the file existed. Licences (which shop may
 * print which designs of a job, how many times) refer to the job owner's registrations.
 */
contract DesignRegistry is IDesignRegistry, AccessControl {
    /// @dev Holders may register designs on behalf of their owners: the platform's operator.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    struct Registration {
        uint64 timestamp;
        address registrar;
    }

    mapping(bytes32 designHash => mapping(bytes32 ownerRef => Registration)) private _registrations;
    mapping(bytes32 designHash => bytes32 ownerRef) private _firstOwner;

    struct Licence {
        uint256 jobId;
        address shop;
        uint32 printsAllowed;
        uint64 issuedAt;
        uint64 closedAt;
    }

    mapping(bytes32 licenceId => Licence) private _licences;
    mapping(bytes32 licenceId => mapping(bytes32 designHash => bool)) private _covers;

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
        ownerRef = _firstOwner[designHash];
        return (ownerRef, _registrations[designHash][ownerRef].timestamp);
    }

    /// @inheritdoc IDesignRegistry
    function registrationBy(bytes32 designHash, bytes32 ownerRef) external view returns (uint64) {
        return _registrations[designHash][ownerRef].timestamp;
    }

    /// @inheritdoc IDesignRegistry
    function registrarOf(bytes32 designHash, bytes32 ownerRef) external view returns (address) {
        return _registrations[designHash][ownerRef].registrar;
    }

    /// @inheritdoc IDesignRegistry
    function issueLicence(
        bytes32 licenceId,
        uint256 jobId,
        address shop,
        uint32 printsAllowed,
        bytes32 ownerRef,
        bytes32[] calldata designHashes
    ) external onlyRole(REGISTRAR_ROLE) {
        if (licenceId == bytes32(0)) {
            revert LicenceZeroId();
        }
        if (_licences[licenceId].issuedAt != 0) {
            revert LicenceAlreadyIssued(licenceId);
        }
        if (shop == address(0) || printsAllowed == 0) {
            revert LicenceInvalid(shop, printsAllowed);
        }
        if (designHashes.length == 0) {
            revert LicenceDesignNotRegistered(bytes32(0), ownerRef);
        }
        // Bounded by the caller's own calldata, as registerMany is.
        for (uint256 i = 0; i < designHashes.length; ++i) {
            if (_registrations[designHashes[i]][ownerRef].timestamp == 0) {
                revert LicenceDesignNotRegistered(designHashes[i], ownerRef);
            }
            _covers[licenceId][designHashes[i]] = true;
        }
        _licences[licenceId] = Licence({
            jobId: jobId,
            shop: shop,
            printsAllowed: printsAllowed,
            issuedAt: SafeCast.toUint64(block.timestamp),
            closedAt: 0
        });
        emit LicenceIssued(licenceId, jobId, shop, printsAllowed, designHashes);
    }

    /// @inheritdoc IDesignRegistry
    function closeLicence(bytes32 licenceId) external onlyRole(REGISTRAR_ROLE) {
        Licence storage entry = _licences[licenceId];
        if (entry.issuedAt == 0) {
            revert LicenceUnknown(licenceId);
        }
        if (entry.closedAt != 0) {
            revert LicenceAlreadyClosed(licenceId, entry.closedAt);
        }
        entry.closedAt = SafeCast.toUint64(block.timestamp);
        emit LicenceClosed(licenceId, block.timestamp);
    }

    /// @inheritdoc IDesignRegistry
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
        )
    {
        Licence storage entry = _licences[licenceId];
        return (entry.jobId, entry.shop, entry.printsAllowed, entry.issuedAt, entry.closedAt);
    }

    /// @inheritdoc IDesignRegistry
    function licenceCovers(bytes32 licenceId, bytes32 designHash) external view returns (bool) {
        return _covers[licenceId][designHash];
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
        Registration storage entry = _registrations[designHash][ownerRef];
        if (entry.timestamp != 0) {
            revert DesignRegistryAlreadyRegistered(designHash, ownerRef, entry.timestamp);
        }
        entry.timestamp = SafeCast.toUint64(block.timestamp);
        entry.registrar = _msgSender();
        if (_registrations[designHash][_firstOwner[designHash]].timestamp == 0) {
            _firstOwner[designHash] = ownerRef;
        }
        emit DesignRegistered(designHash, ownerRef, block.timestamp);
    }
}
