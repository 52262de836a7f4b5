// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
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
 * - Roles: the admin (one account, moved in two steps after a delay:
 *   {AccessControlDefaultAdminRules}) grants the operator role (the relayer: verifies shops,
 *   creates and cancels auctions, records deliveries) and the arbiter role (resolves disputes);
 *   no account holds both, and none of them, nor the treasury, can be a shop.
 * - The reentrancy guard (on {fund} and the withdrawals) is OpenZeppelin's storage one, not
 *   the transient one that would save about 2,000 gas on each: Slither 0.11.6, which CI runs
 *   over this contract, cannot build its IR with ReentrancyGuardTransient (docs/static-analysis.md).
 * - Storage is packed for the calls every bid pays (see {StoredAuction}): a commit writes one
 *   new slot; a reveal and {finalize} only rewrite slots that {createAuction} already filled.
 */
contract AuctionHouse is
    IAuctionHouse,
    AccessControlDefaultAdminRules,
    ReentrancyGuard,
    EIP712,
    Nonces
{
    using SafeERC20 for IERC20;

    /**
     * @dev One auction as stored, slot by slot. A ranked price of `reservePrice + 1` means "no
     * such bid": with it, `price < bestPrice` needs no special case and no look at the reserve
     * (a price over the reserve never ranks), and every slot a reveal writes is non-zero from
     * creation on (rewriting a slot costs 2,900 gas, filling an empty one 20,000).
     * The winner is always `bestShop`: an award passing to the runner-up moves the runner-up
     * up. `runnerUp*` and `thirdPrice` are only tracked when the award may pass on.
     */
    struct StoredAuction {
        // slot 0: what commit, reveal and finalize check
        Status status;
        uint8 pricingRule;
        bool reawardToRunnerUp;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint32 commitCount;
        uint64 fundingDeadline;
        // slot 1: the leading bid
        address bestShop;
        uint32 bestSequence;
        uint32 bestLeadTimeDays;
        uint32 fundingWindow;
        // slot 2: the runner-up
        address runnerUp;
        uint32 runnerUpSequence;
        uint32 runnerUpLeadTimeDays;
        uint32 maxLeadTimeDays;
        // slot 3
        uint128 bestPrice;
        uint128 secondPrice;
        // slot 4
        uint128 reservePrice;
        uint128 thirdPrice;
        // slot 5
        address customer;
        uint64 fundedAt;
        // slot 6
        uint64 deliveryDeadline;
        uint64 deliveredAt;
        // slot 7
        bytes32 specHash;
    }

    /// @dev A sealed bid as stored: one slot. `commitment` is zero once revealed.
    struct StoredBid {
        bytes28 commitment;
        uint16 version;
        uint16 sequence;
    }

    /// @dev Holders verify shops, create and cancel auctions and record deliveries.
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
    mapping(uint256 jobId => StoredAuction) private _auctions;
    mapping(uint256 jobId => mapping(address shop => StoredBid)) private _bids;
    mapping(address account => uint256) private _pendingWithdrawals;

    /**
     * @dev Gives the admin role to `admin` (moved later in two steps, `adminDelay` seconds
     * apart), the operator role to `operator` and the arbiter role to `arbiter`, which must
     * differ. Escrow is held in `settlementToken_`; fees of `feeBps_` basis points go to
     * `treasury_`.
     */
    constructor(
        address admin,
        uint48 adminDelay,
        address operator,
        address arbiter,
        IERC20 settlementToken_,
        address treasury_,
        uint16 feeBps_
    ) AccessControlDefaultAdminRules(adminDelay, admin) EIP712("PrintFair AuctionHouse", "1") {
        if (operator == address(0)) revert ZeroAddress("operator");
        if (arbiter == address(0)) revert ZeroAddress("arbiter");
        if (address(settlementToken_) == address(0)) revert ZeroAddress("settlementToken");
        if (treasury_ == address(0)) revert ZeroAddress("treasury");
        if (feeBps_ > 10_000) revert InvalidFeeBps(feeBps_);
        _grantRole(OPERATOR_ROLE, operator);
        _grantRole(ARBITER_ROLE, arbiter);
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
        uint32 maxLeadTimeDays,
        uint32 fundingWindow,
        bool reawardToRunnerUp
    ) external onlyRole(OPERATOR_ROLE) {
        StoredAuction storage a = _auctions[jobId];
        if (a.status != Status.None) revert AuctionAlreadyExists(jobId);
        if (customer == address(0)) revert ZeroAddress("customer");
        if (commitDeadline <= block.timestamp || revealDeadline <= commitDeadline) {
            revert InvalidDeadlines(commitDeadline, revealDeadline, block.timestamp);
        }
        if (reservePrice == 0 || reservePrice >= type(uint128).max) {
            revert InvalidReservePrice(reservePrice);
        }
        if (pricingRule > 1) revert InvalidPricingRule(pricingRule);
        if (maxLeadTimeDays == 0) revert InvalidMaxLeadTime(maxLeadTimeDays);
        if (fundingWindow < 1 hours) revert InvalidFundingWindow(fundingWindow);
        a.status = Status.Open;
        a.pricingRule = pricingRule;
        a.reawardToRunnerUp = reawardToRunnerUp;
        a.commitDeadline = commitDeadline;
        a.revealDeadline = revealDeadline;
        a.fundingWindow = fundingWindow;
        a.maxLeadTimeDays = maxLeadTimeDays;
        uint128 unranked = uint128(reservePrice) + 1;
        a.bestPrice = unranked;
        a.secondPrice = unranked;
        a.reservePrice = uint128(reservePrice);
        a.thirdPrice = unranked;
        a.customer = customer;
        a.specHash = specHash;
        emit AuctionCreated(
            jobId,
            customer,
            commitDeadline,
            revealDeadline,
            reservePrice,
            specHash,
            pricingRule,
            maxLeadTimeDays,
            fundingWindow,
            reawardToRunnerUp
        );
    }

    /// @inheritdoc IAuctionHouse
    function cancelAuction(uint256 jobId, bytes32 reasonHash) external {
        StoredAuction storage a = _existing(jobId);
        address caller = _msgSender();
        Status status = a.status;
        bool byOperator = hasRole(OPERATOR_ROLE, caller) &&
            (status == Status.Open || status == Status.Awarded);
        bool byCustomer = caller == a.customer && status == Status.Open && a.commitCount == 0;
        if (!byOperator && !byCustomer) revert NotCancellable(jobId, caller);
        a.status = Status.Cancelled;
        emit AuctionCancelled(jobId, caller, reasonHash);
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
        StoredAuction storage a = _existing(jobId);
        _requireStatus(jobId, a.status, Status.Open);
        if (block.timestamp < a.commitDeadline || block.timestamp >= a.revealDeadline) {
            revert OutsideRevealPhase(jobId, a.commitDeadline, a.revealDeadline, block.timestamp);
        }
        // A shop whose verification was withdrawn after it committed cannot win with that bid.
        if (!_verifiedShops[shop]) revert ShopNotVerified(shop);
        StoredBid storage bid = _bids[jobId][shop];
        bytes28 expected = bid.commitment;
        if (expected == bytes28(0)) {
            if (bid.version == 0) revert BidNotFound(jobId, shop);
            revert BidAlreadyRevealed(jobId, shop);
        }
        if (price == 0 || price > type(uint128).max) revert InvalidBidPrice(jobId, shop, price);
        uint32 maxLeadTime = a.maxLeadTimeDays;
        if (leadTimeDays == 0 || leadTimeDays > maxLeadTime) {
            revert InvalidLeadTime(jobId, shop, leadTimeDays, maxLeadTime);
        }
        bytes32 computed = keccak256(abi.encode(jobId, shop, price, leadTimeDays, salt));
        if (bytes28(computed) != expected) {
            revert CommitmentMismatch(jobId, shop, bytes32(expected), computed);
        }
        bid.commitment = bytes28(0);
        _rank(a, shop, uint128(price), leadTimeDays, bid.sequence);
        emit BidRevealed(jobId, shop, price, leadTimeDays);
    }

    /// @inheritdoc IAuctionHouse
    function finalize(uint256 jobId) external {
        StoredAuction storage a = _existing(jobId);
        if (block.timestamp < a.revealDeadline) revert RevealPhaseNotOver(jobId, a.revealDeadline);
        _requireStatus(jobId, a.status, Status.Open);
        address best = a.bestShop;
        if (best == address(0)) {
            a.status = Status.Failed;
            emit AuctionFailed(jobId);
        } else if (_verifiedShops[best]) {
            _award(jobId, a);
        } else {
            // Verification withdrawn after the reveal: the shop cannot win.
            _passOnOrFail(jobId, a);
        }
    }

    /// @inheritdoc IAuctionHouse
    function expireAward(uint256 jobId) external {
        StoredAuction storage a = _existing(jobId);
        _requireStatus(jobId, a.status, Status.Awarded);
        uint64 fundingDeadline = a.fundingDeadline;
        if (block.timestamp <= fundingDeadline) revert FundingWindowOpen(jobId, fundingDeadline);
        emit AwardExpired(jobId, a.bestShop, _canPassOn(a));
        _passOnOrFail(jobId, a);
    }

    /// @dev The award goes to the runner-up if the auction passes it on and the runner-up is a
    /// verified shop; else the auction fails.
    function _canPassOn(StoredAuction storage a) private view returns (bool) {
        address runnerUp = a.runnerUp;
        return a.reawardToRunnerUp && runnerUp != address(0) && _verifiedShops[runnerUp];
    }

    function _passOnOrFail(uint256 jobId, StoredAuction storage a) private {
        if (!_canPassOn(a)) {
            a.status = Status.Failed;
            emit AuctionFailed(jobId);
            return;
        }
        // The runner-up moves up, once: it is awarded at its own price, or under second-price at
        // the next price after it (its own if there is none).
        address runnerUp = a.runnerUp;
        a.reawardToRunnerUp = false;
        a.bestShop = runnerUp;
        a.bestSequence = a.runnerUpSequence;
        a.bestLeadTimeDays = a.runnerUpLeadTimeDays;
        a.runnerUp = address(0);
        a.bestPrice = a.secondPrice;
        a.secondPrice = a.thirdPrice;
        a.thirdPrice = a.reservePrice + 1;
        _award(jobId, a);
    }

    // --- escrow -----------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function fund(uint256 jobId) external nonReentrant {
        StoredAuction storage a = _existing(jobId);
        _onlyCustomer(jobId, a);
        _requireStatus(jobId, a.status, Status.Awarded);
        uint64 fundingDeadline = a.fundingDeadline;
        if (block.timestamp > fundingDeadline) revert FundingWindowClosed(jobId, fundingDeadline);
        uint256 amount = _price(a);
        uint64 deliveryDeadline = uint64(block.timestamp) + uint64(a.bestLeadTimeDays) * 1 days;
        a.status = Status.Funded;
        a.fundedAt = uint64(block.timestamp);
        a.deliveryDeadline = deliveryDeadline;
        emit EscrowFunded(jobId, amount, deliveryDeadline);
        uint256 before = _settlementToken.balanceOf(address(this));
        // From the caller, who is the customer (checked above).
        _settlementToken.safeTransferFrom(_msgSender(), address(this), amount);
        uint256 received = _settlementToken.balanceOf(address(this)) - before;
        if (received != amount) revert TokenMovedLess(jobId, amount, received);
    }

    /// @inheritdoc IAuctionHouse
    function markDelivered(uint256 jobId) external {
        StoredAuction storage a = _existing(jobId);
        address caller = _msgSender();
        if (caller != a.bestShop && !hasRole(OPERATOR_ROLE, caller)) {
            revert NotOperatorOrWinner(jobId, caller);
        }
        _requireStatus(jobId, a.status, Status.Funded);
        a.status = Status.Delivered;
        a.deliveredAt = uint64(block.timestamp);
        emit DeliveryRecorded(jobId, block.timestamp, block.timestamp + CLAIM_WINDOW);
    }

    /// @inheritdoc IAuctionHouse
    function release(uint256 jobId) external {
        StoredAuction storage a = _existing(jobId);
        _requireStatus(jobId, a.status, Status.Delivered);
        uint256 claimDeadline = a.deliveredAt + CLAIM_WINDOW;
        if (_msgSender() != a.customer && block.timestamp < claimDeadline) {
            revert ClaimWindowOpen(jobId, claimDeadline);
        }
        a.status = Status.Released;
        (uint256 shopAmount, uint256 fee) = _payShop(a, _price(a));
        emit EscrowReleased(jobId, shopAmount, fee);
    }

    /// @inheritdoc IAuctionHouse
    function dispute(uint256 jobId, bytes32 evidenceHash) external {
        StoredAuction storage a = _existing(jobId);
        _onlyCustomer(jobId, a);
        _requireStatus(jobId, a.status, Status.Delivered);
        uint256 claimDeadline = a.deliveredAt + CLAIM_WINDOW;
        if (block.timestamp >= claimDeadline) revert ClaimWindowClosed(jobId, claimDeadline);
        a.status = Status.Disputed;
        emit EscrowDisputed(jobId, evidenceHash);
    }

    /// @inheritdoc IAuctionHouse
    function resolve(uint256 jobId, uint256 shopAmount) external onlyRole(ARBITER_ROLE) {
        StoredAuction storage a = _existing(jobId);
        _requireStatus(jobId, a.status, Status.Disputed);
        uint256 price = _price(a);
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
        StoredAuction storage a = _existing(jobId);
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
            _requireStatus(jobId, a.status, Status.Funded);
            if (block.timestamp <= deliveryDeadline) {
                revert DeliveryDeadlineNotPassed(jobId, deliveryDeadline);
            }
        }
        uint256 amount = _price(a);
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
        if (!_isSignedBy(account, digest, signature)) {
            revert InvalidWithdrawalSignature(account);
        }
        _withdraw(account);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IAuctionHouse
    function auction(uint256 jobId) external view returns (Auction memory view_) {
        StoredAuction storage a = _auctions[jobId];
        Status status = a.status;
        view_.status = status;
        view_.pricingRule = a.pricingRule;
        view_.commitDeadline = a.commitDeadline;
        view_.revealDeadline = a.revealDeadline;
        view_.deliveryDeadline = a.deliveryDeadline;
        view_.commitCount = a.commitCount;
        view_.customer = a.customer;
        view_.deliveredAt = a.deliveredAt;
        view_.fundedAt = a.fundedAt;
        view_.reservePrice = a.reservePrice;
        view_.specHash = a.specHash;
        view_.bestShop = a.bestShop;
        view_.bestSequence = a.bestSequence;
        view_.maxLeadTimeDays = a.maxLeadTimeDays;
        uint128 reserve = a.reservePrice;
        view_.bestPrice = a.bestPrice > reserve ? 0 : a.bestPrice;
        view_.secondPrice = a.secondPrice > reserve ? 0 : a.secondPrice;
        view_.fundingWindow = a.fundingWindow;
        view_.reawardToRunnerUp = a.reawardToRunnerUp;
        view_.runnerUp = a.runnerUp;
        if (a.fundingDeadline != 0) {
            // Awarded at some point (a cancelled or failed award keeps what it was).
            view_.winner = a.bestShop;
            view_.price = uint128(_price(a));
            view_.leadTimeDays = a.bestLeadTimeDays;
            view_.fundingDeadline = a.fundingDeadline;
        }
    }

    /// @inheritdoc IAuctionHouse
    function bidOf(uint256 jobId, address shop) external view returns (Bid memory) {
        StoredBid storage bid = _bids[jobId][shop];
        return
            Bid({
                commitment: bid.commitment,
                version: bid.version,
                sequence: bid.sequence,
                revealed: bid.version != 0 && bid.commitment == bytes28(0)
            });
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

    /// @inheritdoc AccessControlDefaultAdminRules
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
        StoredAuction storage a = _auctions[jobId];
        // One read of the slot for the three checks (every bid pays this function).
        Status status = a.status;
        uint64 commitDeadline = a.commitDeadline;
        if (status != Status.Open) {
            if (status == Status.None) revert AuctionNotFound(jobId);
            revert UnexpectedStatus(jobId, status, Status.Open);
        }
        if (block.timestamp >= commitDeadline) revert CommitPhaseOver(jobId, commitDeadline);
        if (!_verifiedShops[shop]) revert ShopNotVerified(shop);
        if (bytes28(commitment) == bytes28(0)) revert ZeroCommitment(jobId, shop);
        if (version > type(uint16).max) revert BidVersionTooHigh(jobId, shop, version);
        StoredBid storage bid = _bids[jobId][shop];
        StoredBid memory live = bid;
        if (version <= live.version) revert StaleBidVersion(jobId, shop, version, live.version);
        uint16 sequence = live.sequence;
        if (sequence == 0) {
            // The first commit fixes the shop's place in the tie-break order.
            uint32 count = a.commitCount;
            if (count >= type(uint16).max) revert TooManyBidders(jobId);
            unchecked {
                ++count;
            }
            a.commitCount = count;
            sequence = uint16(count);
        }
        bid.commitment = bytes28(commitment);
        bid.version = uint16(version);
        bid.sequence = sequence;
        emit BidCommitted(jobId, shop, commitment, version);
    }

    /// @dev Places a revealed bid: the lowest price leads, ties going to the earlier first
    /// commit; a price over the reserve is over every unranked price too, so it never ranks.
    /// The runner-up (and the price after it) is tracked only when an expired award may pass
    /// to it.
    function _rank(
        StoredAuction storage a,
        address shop,
        uint128 price,
        uint32 leadTimeDays,
        uint16 sequence
    ) private {
        uint128 best = a.bestPrice;
        bool trackRunnerUp = a.reawardToRunnerUp;
        if (price < best || (price == best && sequence < a.bestSequence)) {
            // The leader moves down (an unranked one stays unranked).
            if (trackRunnerUp) {
                a.thirdPrice = a.secondPrice;
                a.runnerUp = a.bestShop;
                a.runnerUpSequence = a.bestSequence;
                a.runnerUpLeadTimeDays = a.bestLeadTimeDays;
            }
            a.secondPrice = best;
            a.bestPrice = price;
            a.bestShop = shop;
            a.bestSequence = sequence;
            a.bestLeadTimeDays = leadTimeDays;
            return;
        }
        uint128 second = a.secondPrice;
        if (!trackRunnerUp) {
            if (price < second) a.secondPrice = price;
            return;
        }
        if (price < second || (price == second && sequence < a.runnerUpSequence)) {
            a.thirdPrice = second;
            a.secondPrice = price;
            a.runnerUp = shop;
            a.runnerUpSequence = sequence;
            a.runnerUpLeadTimeDays = leadTimeDays;
        } else if (price < a.thirdPrice) {
            a.thirdPrice = price;
        }
    }

    /// @dev Awards the auction to its leading bid, to be funded within its funding window.
    function _award(uint256 jobId, StoredAuction storage a) private {
        uint64 fundingDeadline = uint64(block.timestamp) + a.fundingWindow;
        a.status = Status.Awarded;
        a.fundingDeadline = fundingDeadline;
        emit AuctionFinalized(jobId, a.bestShop, _price(a), a.bestLeadTimeDays, fundingDeadline);
    }

    /// @dev What the winner is paid: its own price, or under second-price the next valid price
    /// (its own when there is none).
    function _price(StoredAuction storage a) private view returns (uint256) {
        if (a.pricingRule == 1) {
            uint128 second = a.secondPrice;
            if (second <= a.reservePrice) return second;
        }
        return a.bestPrice;
    }

    function _checkBidSignature(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version,
        bytes calldata signature
    ) private view {
        bytes32 digest = sealedBidDigest(jobId, shop, commitment, version);
        if (!_isSignedBy(shop, digest, signature)) revert InvalidBidSignature(jobId, shop);
    }

    /// @dev Whether `signer` signed `digest`: with its key (ECDSA), or as an ERC-1271 contract
    /// wallet. The key is tried first: a relayed bid then costs no look-up of the shop's code
    /// (2,600 gas for each shop in a batch), which {SignatureChecker-isValidSignatureNow} does
    /// first.
    function _isSignedBy(
        address signer,
        bytes32 digest,
        bytes calldata signature
    ) private view returns (bool) {
        // The third value, the failure's detail, is not needed: any failure tries ERC-1271.
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError failure, ) = ECDSA.tryRecover(digest, signature);
        if (failure == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNow(signer, digest, signature);
    }

    /// @dev Credits `shopAmount` minus the fee to the winner and the fee to the treasury.
    function _payShop(
        StoredAuction storage a,
        uint256 shopAmount
    ) private returns (uint256 paid, uint256 fee) {
        // Cannot overflow: shopAmount is at most a 128-bit price and feeBps at most 10,000.
        fee = (shopAmount * feeBps) / 10_000;
        paid = shopAmount - fee;
        _pendingWithdrawals[a.bestShop] += paid;
        _pendingWithdrawals[treasury] += fee;
    }

    /// @dev No account holds both the operator and the arbiter role, and an account granted any
    /// role stops being a shop.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (
            (role == OPERATOR_ROLE && hasRole(ARBITER_ROLE, account)) ||
            (role == ARBITER_ROLE && hasRole(OPERATOR_ROLE, account))
        ) {
            revert RoleConflict(account, role);
        }
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

    function _existing(uint256 jobId) private view returns (StoredAuction storage a) {
        a = _auctions[jobId];
        if (a.status == Status.None) revert AuctionNotFound(jobId);
    }

    function _onlyCustomer(
        uint256 jobId,
        StoredAuction storage a
    ) private view returns (address) {
        address customer = a.customer;
        if (_msgSender() != customer) revert NotCustomer(jobId, _msgSender());
        return customer;
    }

    function _requireStatus(uint256 jobId, Status actual, Status expected) private pure {
        if (actual != expected) revert UnexpectedStatus(jobId, actual, expected);
    }
}
