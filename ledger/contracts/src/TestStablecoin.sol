// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @dev A settlement token for local development chains and tests ONLY: whoever holds the minter
 * role prints money. Production settles in an existing ERC-20 named in the settings.
 */
contract TestStablecoin is ERC20, AccessControl {
    /// @dev Holders may mint any amount to anyone.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @dev Grants the admin role to `admin` and the minter role to `minter`.
    constructor(address admin, address minter) ERC20("PrintFair Test USD", "tUSD") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
    }

    /**
     * @notice Mints `amount` (in units of 10^-6 tUSD) to `to`. Local chains only.
     * @dev Requires the minter role. Emits a {Transfer} event from the zero address.
     */
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Six decimals, like the USD stablecoins that production would use.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
