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

    /// @dev Basis points of every transfer burned on the way (0 unless set), to test what
    /// contracts do with tokens that deliver less than they were asked to move.
    uint16 public transferFeeBps;

    /// @dev A transfer fee over 10,000 basis points.
    error TransferFeeOverFullAmount(uint16 feeBps);

    /// @notice Burns `feeBps` basis points of every transfer from now on. Local chains only.
    /// @dev Requires the admin role.
    function setTransferFee(uint16 feeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeBps > 10_000) revert TransferFeeOverFullAmount(feeBps);
        transferFeeBps = feeBps;
    }

    /// @dev A transfer (not a mint or burn) delivers its amount less the fee, which is burned.
    function _update(address from, address to, uint256 value) internal override {
        uint256 fee = from == address(0) || to == address(0) ? 0 : (value * transferFeeBps) / 10_000;
        if (fee != 0) super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }

    /// @notice Six decimals, like the USD stablecoins that production would use.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
