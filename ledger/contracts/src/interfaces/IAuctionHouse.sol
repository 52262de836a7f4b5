// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/**
 * @dev Sealed-bid reverse auctions for print jobs, with escrow in an ERC-20 settlement token
 * (DESIGN.md sections 3 and 4).
 *
 * An auction is keyed by the platform's job id. Verified print shops commit to
 * `keccak256(abi.encode(jobId, shop, price, leadTimeDays, salt))` before the commit deadline,
 * either directly or through a relayer that carries the shop's EIP-712 `SealedBid` signature;
 * anyone holding the preimage reveals it between the commit and the reveal deadline; after the
 * reveal deadline anyone finalizes. The lowest revealed price at or under the reserve wins, ties
 * going to the earliest first commit; the winner is paid its own price (first-price) or the
 * runner-up's (second-price; with no valid runner-up, its own price).
 *
 * The customer then funds escrow with exactly the price within the auction's funding window;
 * when the window passes unfunded, anyone may expire the award: the auction fails, or (if the
 * customer chose it at creation) passes once to the runner-up at the runner-up's price (under
 * second-price, the next price after it). Once the delivery is recorded the customer has
 * {CLAIM_WINDOW} to accept or dispute, after which anyone may release the escrow. If the delivery
 * deadline (funding time plus the winner's lead time) passes with no delivery, or the delivery is
 * recorded after it, the customer may claim a full refund. The customer may cancel an auction
 * nobody has bid on; the operator may cancel one (with the hash of its reason) until it is funded. Payouts are credited to pull-payment balances and taken
 * with {withdraw}; the platform fee goes to the treasury on whatever the shop is paid.
 *
 * Time windows are half-open: commits while `now < commitDeadline`, reveals while
 * `commitDeadline <= now < revealDeadline`, finalize from `now >= revealDeadline`.
 */
interface IAuctionHouse {
    /// @dev Where an auction stands. `None` is what an unknown job id reads as.
    enum Status {
        None,
        Open,
        Failed,
        Awarded,
        Funded,
        Delivered,
        Disputed,
        Released,
        Resolved,
        Refunded,
        Cancelled
    }

    /**
     * @dev Everything known of one auction, as {auction} reads it (the storage is packed
     * differently). `bestShop`, `bestPrice` and `secondPrice` track the valid reveals (price at
     * or under the reserve) as they arrive (zero: none yet); `winner`, `price` and
     * `leadTimeDays` read as set once the auction is awarded, `fundingDeadline` too, and
     * `deliveryDeadline` once it is funded. `runnerUp` is tracked only for an auction whose
     * award passes to the runner-up. Prices are in the settlement token's smallest unit.
     */
    struct Auction {
        Status status;
        uint8 pricingRule;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 deliveryDeadline;
        uint32 commitCount;
        address customer;
        uint64 deliveredAt;
        address winner;
        uint32 leadTimeDays;
        uint64 fundedAt;
        uint128 reservePrice;
        uint128 price;
        bytes32 specHash;
        address bestShop;
        uint32 bestSequence;
        // The longest lead time a bid may reveal: the days from the reveal deadline to the date
        // the customer needs the parts by.
        uint32 maxLeadTimeDays;
        uint128 bestPrice;
        uint128 secondPrice;
        uint64 fundingDeadline;
        uint32 fundingWindow;
        bool reawardToRunnerUp;
        address runnerUp;
    }

    /**
     * @dev A shop's live bid on an auction. The contract keeps the first 28 bytes of the
     * commitment (finding two openings with the same 224 bits takes about 2^112 hashes) until
     * the bid is revealed, then zero and `revealed` (the price and lead time are in
     * {BidRevealed}). `sequence` is the 1-based order of the shop's first commit in the auction
     * (kept across replacements, for tie-breaking).
     */
    struct Bid {
        bytes28 commitment;
        uint16 version;
        uint16 sequence;
        bool revealed;
    }

    // --- errors -----------------------------------------------------------------------------

    /// @dev An address argument that must be set was zero: `what` names it.
    error ZeroAddress(string what);

    /// @dev The fee is more than 100% (10,000 basis points).
    error InvalidFeeBps(uint16 feeBps);

    /// @dev An auction for `jobId` already exists.
    error AuctionAlreadyExists(uint256 jobId);

    /// @dev No auction exists for `jobId`.
    error AuctionNotFound(uint256 jobId);

    /// @dev The deadlines must satisfy `now < commitDeadline < revealDeadline`.
    error InvalidDeadlines(uint64 commitDeadline, uint64 revealDeadline, uint256 timestamp);

    /// @dev The reserve price must be positive and fit in 128 bits.
    error InvalidReservePrice(uint256 reservePrice);

    /// @dev The pricing rule must be 0 (first-price) or 1 (second-price).
    error InvalidPricingRule(uint8 pricingRule);

    /// @dev A job's longest lead time must be at least a day.
    error InvalidMaxLeadTime(uint32 maxLeadTimeDays);

    /// @dev A funding window must be at least an hour.
    error InvalidFundingWindow(uint32 fundingWindow);

    /// @dev The award of `jobId` was not funded by `fundingDeadline`: it can only expire.
    error FundingWindowClosed(uint256 jobId, uint64 fundingDeadline);

    /// @dev The award of `jobId` may still be funded until `fundingDeadline`.
    error FundingWindowOpen(uint256 jobId, uint64 fundingDeadline);

    /// @dev The customer may cancel only an auction nobody has bid on; the operator may cancel
    /// until the escrow is funded.
    error NotCancellable(uint256 jobId, address caller);

    /// @dev One account cannot hold both the operator and the arbiter role: the relayer must not
    /// judge the disputes of the orders it relays.
    error RoleConflict(address account, bytes32 role);

    /// @dev An auction takes bids from up to 65,535 shops.
    error TooManyBidders(uint256 jobId);

    /// @dev Versions of a sealed bid go up to 65,535.
    error BidVersionTooHigh(uint256 jobId, address shop, uint64 version);

    /// @dev A revealed lead time under a day (funding and refunding at once) or over the job's
    /// longest (the escrow locked until the shop chooses to deliver).
    error InvalidLeadTime(uint256 jobId, address shop, uint32 leadTimeDays, uint32 maxLeadTimeDays);

    /// @dev `shop` is not a verified print shop.
    error ShopNotVerified(address shop);

    /// @dev The settlement token delivered `received` where `amount` was asked for (a token that
    /// takes a fee on transfer): escrow holds exactly the price or nothing.
    error TokenMovedLess(uint256 jobId, uint256 amount, uint256 received);

    /// @dev The operator, the arbiter, the admin and the treasury can never be shops: they could
    /// otherwise bid on, win, deliver and judge the same job.
    error PrivilegedAccountCannotBeShop(address account);

    /// @dev A commitment cannot be zero: zero is what a missing bid reads as.
    error ZeroCommitment(uint256 jobId, address shop);

    /// @dev The commit phase of `jobId` ended at `commitDeadline`.
    error CommitPhaseOver(uint256 jobId, uint64 commitDeadline);

    /// @dev `version` is not greater than the version `current` of the shop's live bid.
    error StaleBidVersion(uint256 jobId, address shop, uint64 version, uint64 current);

    /// @dev `signature` is not `shop`'s EIP-712 signature of this `SealedBid`.
    error InvalidBidSignature(uint256 jobId, address shop);

    /// @dev The arrays given to {commitMany} differ in length.
    error LengthMismatch(
        uint256 jobIds,
        uint256 shops,
        uint256 commitments,
        uint256 versions,
        uint256 signatures
    );

    /// @dev The reveal phase of `jobId` runs from `commitDeadline` to `revealDeadline`.
    error OutsideRevealPhase(
        uint256 jobId,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint256 timestamp
    );

    /// @dev `shop` has no bid on `jobId`.
    error BidNotFound(uint256 jobId, address shop);

    /// @dev `shop`'s bid on `jobId` was already revealed.
    error BidAlreadyRevealed(uint256 jobId, address shop);

    /// @dev A bid price must be positive and fit in 128 bits.
    error InvalidBidPrice(uint256 jobId, address shop, uint256 price);

    /// @dev The revealed values hash to `computed`, not to the live commitment `expected`.
    error CommitmentMismatch(uint256 jobId, address shop, bytes32 expected, bytes32 computed);

    /// @dev The reveal phase of `jobId` only ends at `revealDeadline`.
    error RevealPhaseNotOver(uint256 jobId, uint64 revealDeadline);

    /// @dev The auction `jobId` is `actual`, but the call needs it to be `expected`.
    error UnexpectedStatus(uint256 jobId, Status actual, Status expected);

    /// @dev Only the auction's customer may do this.
    error NotCustomer(uint256 jobId, address caller);

    /// @dev Only the operator or the auction's winner may do this.
    error NotOperatorOrWinner(uint256 jobId, address caller);

    /// @dev Only the customer may release before the claim window ends at `claimDeadline`.
    error ClaimWindowOpen(uint256 jobId, uint256 claimDeadline);

    /// @dev The claim window ended at `claimDeadline`.
    error ClaimWindowClosed(uint256 jobId, uint256 claimDeadline);

    /// @dev The shop's share `shopAmount` exceeds the escrowed `price`.
    error ShopAmountExceedsPrice(uint256 jobId, uint256 shopAmount, uint256 price);

    /// @dev A refund for missed delivery needs the delivery deadline to have passed.
    error DeliveryDeadlineNotPassed(uint256 jobId, uint64 deliveryDeadline);

    /// @dev A refund of a delivered order, whose delivery was recorded in time.
    error DeliveredInTime(uint256 jobId, uint64 deliveredAt, uint64 deliveryDeadline);

    /// @dev `account` has no balance to withdraw.
    error NothingToWithdraw(address account);

    /// @dev A relayed withdrawal's authorisation expired at `deadline`.
    error WithdrawalExpired(address account, uint256 deadline);

    /// @dev The signature is not `account`'s authorisation of this withdrawal.
    error InvalidWithdrawalSignature(address account);

    // --- events -----------------------------------------------------------------------------

    /// @dev Emitted when the operator verifies `shop` or withdraws its verification.
    event ShopVerificationChanged(address indexed shop, bool verified);

    /// @dev Emitted when the auction for `jobId` is created.
    event AuctionCreated(
        uint256 indexed jobId,
        address indexed customer,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint256 reservePrice,
        bytes32 specHash,
        uint8 pricingRule,
        uint32 maxLeadTimeDays,
        uint32 fundingWindow,
        bool reawardToRunnerUp
    );

    /// @dev Emitted when `shop` commits, or replaces its commitment by a newer `version`.
    event BidCommitted(
        uint256 indexed jobId,
        address indexed shop,
        bytes32 commitment,
        uint64 version
    );

    /// @dev Emitted when `shop`'s bid is revealed (also when it is above the reserve).
    event BidRevealed(
        uint256 indexed jobId,
        address indexed shop,
        uint256 price,
        uint32 leadTimeDays
    );

    /// @dev Emitted when an auction ends with no revealed bid at or under its reserve.
    event AuctionFailed(uint256 indexed jobId);

    /// @dev Emitted when an auction is awarded to `winner` at `price`, to be funded by
    /// `fundingDeadline` (also when an expired award passes to the runner-up).
    event AuctionFinalized(
        uint256 indexed jobId,
        address indexed winner,
        uint256 price,
        uint32 leadTimeDays,
        uint64 fundingDeadline
    );

    /// @dev Emitted when `shop`'s award of `jobId` expired unfunded; `passedOn` when the award
    /// went to the runner-up (an {AuctionFinalized} follows), else the auction failed.
    event AwardExpired(uint256 indexed jobId, address indexed shop, bool passedOn);

    /// @dev Emitted when `by` (the customer or the operator) cancels the auction of `jobId`;
    /// `reasonHash` is the hash of the operator's reason (zero from the customer).
    event AuctionCancelled(uint256 indexed jobId, address indexed by, bytes32 reasonHash);

    /// @dev Emitted when the customer pays `amount` into escrow; the shop delivers by
    /// `deliveryDeadline`.
    event EscrowFunded(uint256 indexed jobId, uint256 amount, uint64 deliveryDeadline);

    /// @dev Emitted when delivery is recorded; the claim window ends at `claimDeadline`.
    event DeliveryRecorded(uint256 indexed jobId, uint256 deliveredAt, uint256 claimDeadline);

    /// @dev Emitted when the escrow is released: `shopAmount` to the shop, `fee` to the treasury.
    event EscrowReleased(uint256 indexed jobId, uint256 shopAmount, uint256 fee);

    /// @dev Emitted when the customer disputes the delivery, with the hash of its evidence.
    event EscrowDisputed(uint256 indexed jobId, bytes32 evidenceHash);

    /// @dev Emitted when the arbiter splits the escrow between shop, treasury and customer.
    event DisputeResolved(
        uint256 indexed jobId,
        uint256 shopAmount,
        uint256 fee,
        uint256 customerAmount
    );

    /// @dev Emitted when the customer is refunded `amount` for a missed delivery deadline.
    event EscrowRefunded(uint256 indexed jobId, uint256 amount);

    /// @dev Emitted when `account` withdraws `amount` of its balance.
    event Withdrawn(address indexed account, uint256 amount);

    // --- shops ------------------------------------------------------------------------------

    /**
     * @notice Verifies `shop` (or withdraws its verification), which decides whether it may bid.
     * @dev Requires the operator role. Emits a {ShopVerificationChanged} event. A shop whose
     * verification is withdrawn can no longer commit or reveal, so its sealed bids cannot win.
     * Reverts with {PrivilegedAccountCannotBeShop} for the admin, operator, arbiter or treasury;
     * an account granted one of those roles later loses its verification.
     */
    function setShopVerified(address shop, bool verified) external;

    /// @notice Whether `shop` is a verified print shop.
    function isVerifiedShop(address shop) external view returns (bool);

    // --- auctions ---------------------------------------------------------------------------

    /**
     * @notice Opens the sealed-bid auction of job `jobId` for `customer`.
     * @dev Requires the operator role. `pricingRule` is 0 (first-price) or 1 (second-price).
     * A bid's lead time must be from one day to `maxLeadTimeDays`. The award must be funded
     * within `fundingWindow` seconds (at least an hour); with `reawardToRunnerUp`, an award
     * that expires unfunded passes once to the runner-up. Reverts with
     * {AuctionAlreadyExists}, {ZeroAddress}, {InvalidDeadlines}, {InvalidReservePrice},
     * {InvalidPricingRule}, {InvalidMaxLeadTime} or {InvalidFundingWindow}. Emits an
     * {AuctionCreated} event.
     */
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
    ) external;

    /**
     * @notice Cancels the auction of `jobId`: by the customer while nobody has committed, or by
     * the operator, with the hash of its reason, at any time before the escrow is funded.
     * @dev Reverts with {AuctionNotFound} or {NotCancellable}. Emits {AuctionCancelled}.
     */
    function cancelAuction(uint256 jobId, bytes32 reasonHash) external;

    /**
     * @notice Commits the caller's sealed bid on `jobId`, or replaces its live bid with a
     * strictly newer `version` (versions start at 1).
     * @dev The caller must be a verified shop. Reverts with {AuctionNotFound},
     * {UnexpectedStatus} (a cancelled auction), {CommitPhaseOver}, {ShopNotVerified},
     * {ZeroCommitment}, {StaleBidVersion} or {BidVersionTooHigh}. Emits a {BidCommitted}
     * event.
     */
    function commit(uint256 jobId, bytes32 commitment, uint64 version) external;

    /**
     * @notice Commits `shop`'s sealed bid on its behalf, authorised by its EIP-712 signature of
     * `SealedBid(uint256 jobId,address shop,bytes32 commitment,uint64 version)`.
     * @dev Anyone may relay. ERC-1271 contract wallets are supported. Reverts as {commit} does
     * and with {InvalidBidSignature}.
     */
    function commitFor(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version,
        bytes calldata signature
    ) external;

    /**
     * @notice Relays several signed commitments in one transaction, as {commitFor} does for
     * each.
     * @dev Reverts with {LengthMismatch} if the arrays differ in length; any refused bid reverts
     * the whole call, so relayers should simulate the batch first.
     */
    function commitMany(
        uint256[] calldata jobIds,
        address[] calldata shops,
        bytes32[] calldata commitments,
        uint64[] calldata versions,
        bytes[] calldata signatures
    ) external;

    /**
     * @notice Reveals `shop`'s bid on `jobId`; anyone holding the preimage may call it.
     * @dev Only in the reveal phase, once per bid, while `shop` is verified, with a lead time
     * from one day to the auction's longest. A price above the reserve is recorded but cannot
     * win. Reverts with {AuctionNotFound}, {UnexpectedStatus}, {OutsideRevealPhase},
     * {ShopNotVerified},
     * {BidNotFound}, {BidAlreadyRevealed}, {InvalidBidPrice}, {InvalidLeadTime} or
     * {CommitmentMismatch}. Emits a {BidRevealed} event.
     */
    function reveal(
        uint256 jobId,
        address shop,
        uint256 price,
        uint32 leadTimeDays,
        bytes32 salt
    ) external;

    /**
     * @notice Settles the auction `jobId` once its reveal phase is over; anyone may call it.
     * The award must be funded within the auction's funding window from now.
     * @dev Reverts with {AuctionNotFound}, {RevealPhaseNotOver} or {UnexpectedStatus}. Emits
     * {AuctionFinalized}, or {AuctionFailed} if no revealed bid was at or under the reserve.
     */
    function finalize(uint256 jobId) external;

    /**
     * @notice Ends an award that was not funded within its funding window; anyone may call it.
     * The auction fails, or, if it was created so and a verified runner-up exists, the award
     * passes once to the runner-up with a new funding window.
     * @dev Reverts with {AuctionNotFound}, {UnexpectedStatus} or {FundingWindowOpen}. Emits
     * {AwardExpired}, then {AuctionFinalized} for the runner-up or {AuctionFailed}.
     */
    function expireAward(uint256 jobId) external;

    // --- escrow -----------------------------------------------------------------------------

    /**
     * @notice Pays the awarded price of `jobId` into escrow, from the customer.
     * The delivery deadline is then the funding time plus the winner's lead time.
     * @dev Only the customer, once, after {finalize} and before the funding deadline; needs an
     * allowance of the price. Reverts with {NotCustomer}, {UnexpectedStatus},
     * {FundingWindowClosed}, or {TokenMovedLess} when the token delivers less
     * than the price (a fee on transfer would otherwise pay this job from another's escrow).
     * Emits an {EscrowFunded} event.
     */
    function fund(uint256 jobId) external;

    /**
     * @notice Records that the job was delivered, which opens the customer's claim window.
     * @dev Only the operator or the winner, after {fund}. Reverts with {NotOperatorOrWinner} or
     * {UnexpectedStatus}. Emits a {DeliveryRecorded} event.
     */
    function markDelivered(uint256 jobId) external;

    /**
     * @notice Releases the escrow to the shop (minus the fee, to the treasury): by the customer
     * at any time after delivery, or by anyone once the claim window is over undisputed.
     * @dev Reverts with {UnexpectedStatus} or {ClaimWindowOpen}. Emits {EscrowReleased}.
     */
    function release(uint256 jobId) external;

    /**
     * @notice Disputes the delivery of `jobId` within the claim window, with the hash of the
     * customer's evidence.
     * @dev Only the customer. Reverts with {NotCustomer}, {UnexpectedStatus} or
     * {ClaimWindowClosed}. Emits an {EscrowDisputed} event.
     */
    function dispute(uint256 jobId, bytes32 evidenceHash) external;

    /**
     * @notice Resolves a dispute: `shopAmount` of the escrow goes to the shop (the fee taken on
     * it), the rest back to the customer. `price` is a full release, 0 a full refund.
     * @dev Requires the arbiter role. Reverts with {UnexpectedStatus} or
     * {ShopAmountExceedsPrice}. Emits a {DisputeResolved} event.
     */
    function resolve(uint256 jobId, uint256 shopAmount) external;

    /**
     * @notice Refunds the customer in full when the delivery deadline passed with no delivery,
     * or when the delivery was recorded after it (a late delivery may be refused until its
     * claim window closes, or accepted).
     * @dev Only the customer. Reverts with {NotCustomer}, {UnexpectedStatus},
     * {DeliveryDeadlineNotPassed}, {DeliveredInTime} or {ClaimWindowClosed}. Emits an
     * {EscrowRefunded} event.
     */
    function claimRefund(uint256 jobId) external;

    /**
     * @notice Transfers the caller's whole balance of settlement tokens to it.
     * @dev Reverts with {NothingToWithdraw}. Emits a {Withdrawn} event.
     */
    function withdraw() external;

    /**
     * @notice Transfers `account`'s whole balance to `account`, relayed by anyone holding its
     * EIP-712 `Withdrawal(account, nonce, deadline)` signature (so payees need no gas). Each
     * signature is good once: it names the account's next nonce.
     * @dev Reverts with {WithdrawalExpired}, {InvalidWithdrawalSignature} or
     * {NothingToWithdraw}. Emits a {Withdrawn} event.
     */
    function withdrawFor(address account, uint256 deadline, bytes calldata signature) external;

    // --- views ------------------------------------------------------------------------------

    /// @notice The auction of `jobId`; all zero (status `None`) if there is none.
    function auction(uint256 jobId) external view returns (Auction memory);

    /// @notice `shop`'s live bid on `jobId`; all zero if it has none.
    function bidOf(uint256 jobId, address shop) external view returns (Bid memory);

    /// @notice The settlement-token balance that `account` may {withdraw}.
    function pendingWithdrawal(address account) external view returns (uint256);

    /// @notice The EIP-712 digest that `account` signs to authorise a relayed withdrawal.
    function withdrawalDigest(
        address account,
        uint256 nonce,
        uint256 deadline
    ) external view returns (bytes32);

    /// @notice The EIP-712 digest that `shop` signs to authorise this commitment.
    function sealedBidDigest(
        uint256 jobId,
        address shop,
        bytes32 commitment,
        uint64 version
    ) external view returns (bytes32);
}
