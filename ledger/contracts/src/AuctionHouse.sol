// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IAuctionHouse} from "./interfaces/IAuctionHouse.sol";

/**
 * @dev Sealed-bid reverse auctions for print jobs with escrow and pull payments; see
 * {IAuctionHouse} for the rules.
 *
 * Choices worth knowing:
 * - Second-price with a single valid bid pays the winner its own bid (not the reserve): the
 *   customer never pays more than some shop asked for.
 * - The claim window is the constant {CLAIM_WINDOW} (14 days) from the recorded delivery.
 * - The fee rate, treasury and settlement token are fixed at deployment, so an auction's terms
 *   cannot change under it.
 * - Prices are stored in 128 bits (far beyond any real price in any token) so that the best and
 *   second-best price of an auction share one slot and a bid fits in two.
 */
contract AuctionHouse is IAuctionHouse, AccessControl, ReentrancyGuard, EIP712, Nonces {
    using SafeERC20 for IERC20;

    /// @dev Holders verify shops, create auctions for customers and record deliveries.
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @dev Holders resolve disputes.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @dev The EIP-712 type hash of a shop's authorisation of a relayed commitment.
    bytes32 public constant SEALED_BID_TYPEHASH =
        keccak256("SealedBid(uint256 jobId,address shop,bytes32 commitment,uint64 version)");

    /// @dev The EIP-712 type hash of an account's authorisation of a relayed withdrawal.
    bytes32 public constant WITHDRAWAL_TYPEHASH =
        keccak256("Withdrawal(address account,uint256 nonce,uint256 deadline)");

    /// @notice How long the customer may accept or dispute after the delivery is recorded.
    uint256 public constant CLAIM_WINDOW = 14 days;

    /// @notice The platform fee, in basis points of what the shop is paid.
    uint16 public immutable feeBps;

    /// @notice Where platform fees are credited.
    address public immutable treasury;

    IERC20 private immutable _settlementToken;

    mapping(address shop => bool) private _verifiedShops;
    mapping(uint256 jobId => Auction) private _auctions;
    mapping(uint256 jobId => mapping(address shop => Bid)) private _bids;
    mapping(address account => uint256) private _pendingWithdrawals;

    /**
     * @dev Grants the admin role to `admin` and the operator and arbiter roles to `operator`.
     * Escrow is held in `settlementToken_`; fees of `feeBps_` basis points go to `treasury_`.
     */
    constructor(
        address admin,
        address operator,
        IERC20 settlementToken_,
        address treasury_,
        uint16 feeBps_
    ) EIP712("PrintFair AuctionHouse", "1") {
        if (admin == address(0)) revert ZeroAddress("admin");
        if (operator == address(0)) revert ZeroAddress("operator");
        if (address(settlementToken_) == address(0)) revert ZeroAddress("settlementToken");
        if (treasury_ == address(0)) revert ZeroAddress("treasury");
        if (feeBps_ > 10_000) revert InvalidFeeBps(feeBps_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(OPERATOR_ROLE, operator);
        _grantRole(ARBITER_ROLE, operator);
        _settlementToken = settlementToken_;
        treasury = treasury_;
        feeBps = feeBps_;
    }

    // --- shops ------------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function setShopVerified(address shop, bool verified) external onlyRole(OPERATOR_ROLE) {
        if (shop == address(0)) revert ZeroAddress("shop");
        if (verified && _isPrivileged(shop)) revert PrivilegedAccountCannotBeShop(shop);
        _verifiedShops[shop] = verified;
        emit ShopVerificationChanged(shop, verified);
    }

    /// @inheritdoc IAuctionHouse
    function isVerifiedShop(address shop) external view returns (bool) {
        return _verifiedShops[shop];
    }

    // --- auctions ---------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function createAuction(
        uint256 jobId,
        address customer,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint256 reservePrice,
        bytes32 specHash,
        uint8 pricingRule,
        uint32 maxLeadTimeDays
    ) external onlyRole(OPERATOR_ROLE) {
        Auction storage a = _auctions[jobId];
        if (a.status != Status.None) revert AuctionAlreadyExists(jobId);
        if (customer == address(0)) revert ZeroAddress("customer");
        if (commitDeadline <= block.timestamp || revealDeadline <= commitDeadline) {
            revert InvalidDeadlines(commitDeadline, revealDeadline, block.timestamp);
        }
        if (reservePrice == 0 || reservePrice > type(uint128).max) {
            revert InvalidReservePrice(reservePrice);
        }
        if (pricingRule > 1) revert InvalidPricingRule(pricingRule);
        if (maxLeadTimeDays == 0) revert InvalidMaxLeadTime(maxLeadTimeDays);
        a.status = Status.Open;
        a.pricingRule = pricingRule;
        a.commitDeadline = commitDeadline;
        a.revealDeadline = revealDeadline;
        a.customer = customer;
        a.reservePrice = uint128(reservePrice);
        a.specHash = specHash;
        a.maxLeadTimeDays = maxLeadTimeDays;
        emit AuctionCreated(
            jobId,
            customer,
            commitDeadline,
            revealDeadline,
            reservePrice,
            specHash,
            pricingRule,
            maxLeadTimeDays
        );
    }

    /// @inheritdoc IAuctionHouse
    function commit(uint256 jobId, bytes32 commitment, uint64 version) external {
        _commit(jobId, _msgSender(), commitment, version);
    }

    /// @inheritdoc IAuctionHouse
    function commitFor(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version,
        bytes calldata signature
    ) external {
        _checkBidSignature(jobId, shop, commitment, version, signature);
        _commit(jobId, shop, commitment, version);
    }

    /// @inheritdoc IAuctionHouse
    function commitMany(
        uint256[] calldata jobIds,
        address[] calldata shops,
        bytes32[] calldata commitments,
        uint64[] calldata versions,
        bytes[] calldata signatures
    ) external {
        uint256 n = jobIds.length;
        if (
            shops.length != n ||
            commitments.length != n ||
            versions.length != n ||
            signatures.length != n
        ) {
            revert LengthMismatch(
                n,
                shops.length,
                commitments.length,
                versions.length,
                signatures.length
            );
        }
        for (uint256 i = 0; i < n; ++i) {
            _checkBidSignature(jobIds[i], shops[i], commitments[i], versions[i], signatures[i]);
            _commit(jobIds[i], shops[i], commitments[i], versions[i]);
        }
    }

    /// @inheritdoc IAuctionHouse
    function reveal(
        uint256 jobId,
        address shop,
        uint256 price,
        uint32 leadTimeDays,
        bytes32 salt
    ) external {
        Auction storage a = _existing(jobId);
        if (block.timestamp < a.commitDeadline || block.timestamp >= a.revealDeadline) {
            revert OutsideRevealPhase(jobId, a.commitDeadline, a.revealDeadline, block.timestamp);
        }
        // A shop whose verification was withdrawn after it committed cannot win with that bid.
        if (!_verifiedShops[shop]) revert ShopNotVerified(shop);
        Bid storage bid = _bids[jobId][shop];
        bytes32 expected = bid.commitment;
        if (expected == bytes32(0)) revert BidNotFound(jobId, shop);
        if (bid.price != 0) revert BidAlreadyRevealed(jobId, shop);
        if (price == 0 || price > type(uint128).max) revert InvalidBidPrice(jobId, shop, price);
        uint32 maxLeadTime = a.maxLeadTimeDays;
        if (leadTimeDays == 0 || leadTimeDays > maxLeadTime) {
            revert InvalidLeadTime(jobId, shop, leadTimeDays, maxLeadTime);
        }
        bytes32 computed = keccak256(abi.encode(jobId, shop, price, leadTimeDays, salt));
        if (computed != expected) revert CommitmentMismatch(jobId, shop, expected, computed);

        bid.price = uint128(price);
        bid.leadTimeDays = leadTimeDays;
        // Only bids at or under the reserve compete; both prices then fit the 128-bit fields.
        if (price <= a.reservePrice) {
            uint32 sequence = bid.sequence;
            address best = a.bestShop;
            if (
                best == address(0) ||
                price < a.bestPrice ||
                (price == a.bestPrice && sequence < a.bestSequence)
            ) {
                if (best != address(0)) a.secondPrice = a.bestPrice;
                a.bestShop = shop;
                a.bestSequence = sequence;
                a.bestPrice = uint128(price);
            } else if (a.secondPrice == 0 || price < a.secondPrice) {
                a.secondPrice = uint128(price);
            }
        }
        emit BidRevealed(jobId, shop, price, leadTimeDays);
    }

    /// @inheritdoc IAuctionHouse
    function finalize(uint256 jobId) external {
        Auction storage a = _existing(jobId);
        if (block.timestamp < a.revealDeadline) revert RevealPhaseNotOver(jobId, a.revealDeadline);
        _requireStatus(jobId, a, Status.Open);
        address winner = a.bestShop;
        if (winner == address(0)) {
            a.status = Status.Failed;
            emit AuctionFailed(jobId);
            return;
        }
        uint128 price = a.bestPrice;
        // Second-price: the runner-up's price if there is a valid one, else the winner's own.
        if (a.pricingRule == 1 && a.secondPrice != 0) price = a.secondPrice;
        uint32 leadTimeDays = _bids[jobId][winner].leadTimeDays;
        a.status = Status.Awarded;
        a.winner = winner;
        a.price = price;
        a.leadTimeDays = leadTimeDays;
        a.deliveryDeadline = a.revealDeadline + uint64(leadTimeDays) * 1 days;
        emit AuctionFinalized(jobId, winner, price, leadTimeDays);
    }

    // --- escrow -----------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function fund(uint256 jobId) external nonReentrant {
        Auction storage a = _existing(jobId);
        address customer = _onlyCustomer(jobId, a);
        _requireStatus(jobId, a, Status.Awarded);
        uint256 amount = a.price;
        a.status = Status.Funded;
        a.fundedAt = uint64(block.timestamp);
        emit EscrowFunded(jobId, amount);
        uint256 before = _settlementToken.balanceOf(address(this));
        _settlementToken.safeTransferFrom(customer, address(this), amount);
        uint256 received = _settlementToken.balanceOf(address(this)) - before;
        if (received != amount) revert TokenMovedLess(jobId, amount, received);
    }

    /// @inheritdoc IAuctionHouse
    function markDelivered(uint256 jobId) external {
        Auction storage a = _existing(jobId);
        address caller = _msgSender();
        if (caller != a.winner && !hasRole(OPERATOR_ROLE, caller)) {
            revert NotOperatorOrWinner(jobId, caller);
        }
        _requireStatus(jobId, a, Status.Funded);
        a.status = Status.Delivered;
        a.deliveredAt = uint64(block.timestamp);
        emit DeliveryRecorded(jobId, block.timestamp, block.timestamp + CLAIM_WINDOW);
    }

    /// @inheritdoc IAuctionHouse
    function release(uint256 jobId) external {
        Auction storage a = _existing(jobId);
        _requireStatus(jobId, a, Status.Delivered);
        uint256 claimDeadline = a.deliveredAt + CLAIM_WINDOW;
        if (_msgSender() != a.customer && block.timestamp < claimDeadline) {
            revert ClaimWindowOpen(jobId, claimDeadline);
        }
        a.status = Status.Released;
        (uint256 shopAmount, uint256 fee) = _payShop(a, a.price);
        emit EscrowReleased(jobId, shopAmount, fee);
    }

    /// @inheritdoc IAuctionHouse
    function dispute(uint256 jobId, bytes32 evidenceHash) external {
        Auction storage a = _existing(jobId);
        _onlyCustomer(jobId, a);
        _requireStatus(jobId, a, Status.Delivered);
        uint256 claimDeadline = a.deliveredAt + CLAIM_WINDOW;
        if (block.timestamp >= claimDeadline) revert ClaimWindowClosed(jobId, claimDeadline);
        a.status = Status.Disputed;
        emit EscrowDisputed(jobId, evidenceHash);
    }

    /// @inheritdoc IAuctionHouse
    function resolve(uint256 jobId, uint256 shopAmount) external onlyRole(ARBITER_ROLE) {
        Auction storage a = _existing(jobId);
        _requireStatus(jobId, a, Status.Disputed);
        uint256 price = a.price;
        if (shopAmount > price) revert ShopAmountExceedsPrice(jobId, shopAmount, price);
        a.status = Status.Resolved;
        (, uint256 fee) = _payShop(a, shopAmount);
        uint256 customerAmount;
        // Cannot underflow: shopAmount <= price was checked above.
        unchecked {
            customerAmount = price - shopAmount;
        }
        _pendingWithdrawals[a.customer] += customerAmount;
        emit DisputeResolved(jobId, shopAmount, fee, customerAmount);
    }

    /// @inheritdoc IAuctionHouse
    function claimRefund(uint256 jobId) external {
        Auction storage a = _existing(jobId);
        address customer = _onlyCustomer(jobId, a);
        uint64 deliveryDeadline = a.deliveryDeadline;
        if (a.status == Status.Delivered) {
            // A delivery recorded after its deadline leaves the customer the choice until the
            // claim window closes: accept it, or refuse it and take the refund.
            uint64 deliveredAt = a.deliveredAt;
            if (deliveredAt <= deliveryDeadline) {
                revert DeliveredInTime(jobId, deliveredAt, deliveryDeadline);
            }
            uint256 claimDeadline = deliveredAt + CLAIM_WINDOW;
            if (block.timestamp >= claimDeadline) revert ClaimWindowClosed(jobId, claimDeadline);
        } else {
            _requireStatus(jobId, a, Status.Funded);
            if (block.timestamp <= deliveryDeadline) {
                revert DeliveryDeadlineNotPassed(jobId, deliveryDeadline);
            }
        }
        uint256 amount = a.price;
        a.status = Status.Refunded;
        _pendingWithdrawals[customer] += amount;
        emit EscrowRefunded(jobId, amount);
    }

    /// @inheritdoc IAuctionHouse
    function withdraw() external nonReentrant {
        _withdraw(_msgSender());
    }

    /// @inheritdoc IAuctionHouse
    function withdrawFor(
        address account,
        uint256 deadline,
        bytes calldata signature
    ) external nonReentrant {
        if (block.timestamp > deadline) revert WithdrawalExpired(account, deadline);
        bytes32 digest = withdrawalDigest(account, _useNonce(account), deadline);
        if (!SignatureChecker.isValidSignatureNow(account, digest, signature)) {
            revert InvalidWithdrawalSignature(account);
        }
        _withdraw(account);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function auction(uint256 jobId) external view returns (Auction memory) {
        return _auctions[jobId];
    }

    /// @inheritdoc IAuctionHouse
    function bidOf(uint256 jobId, address shop) external view returns (Bid memory) {
        return _bids[jobId][shop];
    }

    /// @inheritdoc IAuctionHouse
    function pendingWithdrawal(address account) external view returns (uint256) {
        return _pendingWithdrawals[account];
    }

    /// @inheritdoc IAuctionHouse
    function sealedBidDigest(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version
    ) public view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(abi.encode(SEALED_BID_TYPEHASH, jobId, shop, commitment, version))
            );
    }

    /// @inheritdoc IAuctionHouse
    function withdrawalDigest(
        address account,
        uint256 nonce,
        uint256 deadline
    ) public view returns (bytes32) {
        return
            _hashTypedDataV4(keccak256(abi.encode(WITHDRAWAL_TYPEHASH, account, nonce, deadline)));
    }

    /// @notice The ERC-20 token that escrow is held and paid out in.
    function settlementToken() external view returns (IERC20) {
        return _settlementToken;
    }

    /// @notice The EIP-712 domain separator that sealed-bid signatures are made under.
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return
            interfaceId == type(IAuctionHouse).interfaceId || super.supportsInterface(interfaceId);
    }

    // --- internals --------------------------------------------------------------------------

    function _withdraw(address account) private {
        uint256 amount = _pendingWithdrawals[account];
        if (amount == 0) revert NothingToWithdraw(account);
        _pendingWithdrawals[account] = 0;
        emit Withdrawn(account, amount);
        _settlementToken.safeTransfer(account, amount);
    }

    function _commit(uint256 jobId, address shop, bytes32 commitment, uint64 version) private {
        Auction storage a = _existing(jobId);
        // Also closes commits once the auction is finalized, which needs a later time.
        if (block.timestamp >= a.commitDeadline) revert CommitPhaseOver(jobId, a.commitDeadline);
        if (!_verifiedShops[shop]) revert ShopNotVerified(shop);
        if (commitment == bytes32(0)) revert ZeroCommitment(jobId, shop);
        Bid storage bid = _bids[jobId][shop];
        uint64 current = bid.version;
        if (version <= current) revert StaleBidVersion(jobId, shop, version, current);
        if (bid.sequence == 0) {
            // The first commit fixes the shop's place in the tie-break order.
            bid.sequence = ++a.commitCount;
        }
        bid.commitment = commitment;
        bid.version = version;
        emit BidCommitted(jobId, shop, commitment, version);
    }

    function _checkBidSignature(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version,
        bytes calldata signature
    ) private view {
        bytes32 digest = sealedBidDigest(jobId, shop, commitment, version);
        if (!SignatureChecker.isValidSignatureNow(shop, digest, signature)) {
            revert InvalidBidSignature(jobId, shop);
        }
    }

    /// @dev Credits `shopAmount` minus the fee to the winner and the fee to the treasury.
    function _payShop(
        Auction storage a,
        uint256 shopAmount
    ) private returns (uint256 paid, uint256 fee) {
        // Cannot overflow: shopAmount is at most a 128-bit price and feeBps at most 10,000.
        fee = (shopAmount * feeBps) / 10_000;
        paid = shopAmount - fee;
        _pendingWithdrawals[a.winner] += paid;
        _pendingWithdrawals[treasury] += fee;
    }

    /// @dev An account granted the admin, operator or arbiter role stops being a shop.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && _verifiedShops[account]) {
            _verifiedShops[account] = false;
            emit ShopVerificationChanged(account, false);
        }
    }

    function _isPrivileged(address account) private view returns (bool) {
        return
            account == treasury ||
            hasRole(DEFAULT_ADMIN_ROLE, account) ||
            hasRole(OPERATOR_ROLE, account) ||
            hasRole(ARBITER_ROLE, account);
    }

    function _existing(uint256 jobId) private view returns (Auction storage a) {
        a = _auctions[jobId];
        if (a.status == Status.None) revert AuctionNotFound(jobId);
    }

    function _onlyCustomer(uint256 jobId, Auction storage a) private view returns (address) {
        address customer = a.customer;
        if (_msgSender() != customer) revert NotCustomer(jobId, _msgSender());
        return customer;
    }

    function _requireStatus(uint256 jobId, Auction storage a, Status expected) private view {
        Status actual = a.status;
        if (actual != expected) revert UnexpectedStatus(jobId, actual, expected);
    }
}
