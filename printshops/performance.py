"""A print shop's performance (issue "Track and trace", item 7): on-time delivery, quality pass
rate and dispute outcomes, derived only from what can be verified.

- Deliveries and disputes come from the orders' states, which only final chain events move
  (marketplace/handlers.py): `delivered_at` is the final DeliveryRecorded event's time, a
  resolution's split is the final DisputeResolved event's. They are counted as the orders move,
  in each shop's order tally (marketplace/tallies.py), so they cost the same whatever a shop's
  history.
- Quality counts only the quality records anchored in a batch whose RecordAnchor transaction is
  final, and that still match what was anchored: each is rebuilt from the live database and
  checked against its leaf and proof (ledger/services/verification.py). A record that no longer
  matches is counted as altered, never as passed or failed.

`shop_performances` computes many shops at once in a constant number of queries, for the bids
table of a job."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.http import Http404
from django.utils import timezone

from ledger.models import ChainEvent, RecordLeaf
from ledger.services.verification import anchor_state, leaf_problem
from marketplace.models import Job, Organization
from marketplace.tallies import shop_order_figures
from printshops.models import Bid, PartRecord, PrintShopProfile
from printshops.records import part_record_content

PART_RECORD = "part_record"


def _percent(part: int, whole: int) -> int | None:
    """`part` of `whole` as a whole percentage, None when there is nothing to rate. Never rounds
    to 100% while one is missing, nor to 0% while one counts."""
    if whole <= 0:
        return None
    value = (200 * part + whole) // (2 * whole)  # rounded half up, in integers
    if part < whole:
        value = min(value, 99)
    if part > 0:
        value = max(value, 1)
    return value


@dataclass(frozen=True)
class ShopPerformance:
    """What a shop has shown, in counts. The percentages are None when there is nothing to rate
    yet (a new shop has no 0% record: it has none)."""

    organization_id: int
    # Deliveries: orders delivered (final DeliveryRecorded), and orders whose delivery deadline
    # passed with no delivery (still funded after it, or refunded for it).
    delivered_on_time: int = 0
    delivered_late: int = 0
    missed: int = 0
    # Quality records: verified ones (anchored, final, unaltered) that passed or failed; those
    # not anchored and final yet; those that no longer match their anchored hash.
    quality_passed: int = 0
    quality_failed: int = 0
    quality_pending: int = 0
    quality_altered: int = 0
    # Disputes, by the final chain events: still open, and resolved by a full release to the
    # shop, a partial release, or a full refund to the customer.
    disputes_open: int = 0
    disputes_shop_favour: int = 0
    disputes_partial: int = 0
    disputes_refunded: int = 0
    # Orders released or resolved: the escrow is settled.
    orders_completed: int = 0

    # --- deliveries ---
    @property
    def deliveries_due(self) -> int:
        return self.delivered_on_time + self.delivered_late + self.missed

    @property
    def on_time_percent(self) -> int | None:
        return _percent(self.delivered_on_time, self.deliveries_due)

    # --- quality ---
    @property
    def quality_verified(self) -> int:
        return self.quality_passed + self.quality_failed

    @property
    def quality_pass_percent(self) -> int | None:
        return _percent(self.quality_passed, self.quality_verified)

    # --- disputes ---
    @property
    def disputes_resolved(self) -> int:
        return self.disputes_shop_favour + self.disputes_partial + self.disputes_refunded

    @property
    def disputes_opened(self) -> int:
        return self.disputes_open + self.disputes_resolved

    @property
    def dispute_outcomes(self) -> list[tuple[str, int]]:
        """The outcomes that happened, e.g. [("partial", 1), ("open", 1)]."""
        outcomes = [
            ("in the shop's favour", self.disputes_shop_favour),
            ("partial", self.disputes_partial),
            ("refunded", self.disputes_refunded),
            ("open", self.disputes_open),
        ]
        return [(label, count) for label, count in outcomes if count]

    @property
    def dispute_summary(self) -> str:
        """e.g. "2 disputes (1 partial, 1 open)", or "no disputes"."""
        opened = self.disputes_opened
        if not opened:
            return "no disputes"
        parts = self.dispute_outcomes
        noun = "dispute" if opened == 1 else "disputes"
        if len(parts) == 1:
            return f"{opened} {noun} ({parts[0][0]})"
        return f"{opened} {noun} (" + ", ".join(f"{count} {label}" for label, count in parts) + ")"

    @property
    def dispute_percent(self) -> int | None:
        """Disputed orders among the delivered ones."""
        delivered = self.delivered_on_time + self.delivered_late
        return _percent(self.disputes_opened, delivered)

    @property
    def has_history(self) -> bool:
        return bool(
            self.deliveries_due
            or self.quality_verified
            or self.quality_pending
            or self.quality_altered
            or self.disputes_opened
            or self.orders_completed
        )


def _order_figures(organization_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries, disputes and completed orders per shop, from their order tallies
    (marketplace/tallies.py): two queries, whatever the shops' history."""
    figures: dict[int, dict[str, int]] = {}
    for shop_id, counts in shop_order_figures(organization_ids).items():
        figures[shop_id] = {name: counts[name] for name in _ORDER_FIGURES}
        # Partial: the resolution left the shop something between nothing and the whole price.
        figures[shop_id]["disputes_partial"] = (
            counts["disputes_resolved"]
            - counts["disputes_shop_favour"]
            - counts["disputes_refunded"]
        )
    return figures


_ORDER_FIGURES = (
    "delivered_on_time",
    "delivered_late",
    "missed",
    "disputes_open",
    "disputes_shop_favour",
    "disputes_refunded",
    "orders_completed",
)


def _quality_figures(organization_ids: list[int]) -> dict[int, dict[str, int]]:
    """Quality records per shop: passed and failed among the verified ones, pending, altered.
    Three queries (the records, their evidence, their leaves) and a hash per record."""
    records = list(
        PartRecord.objects.filter(order__shop_id__in=organization_ids, kind=PartRecord.Kind.QUALITY)
        .select_related("order")
        .prefetch_related("evidence")
        .order_by()
    )
    leaves = (
        {
            leaf.record_id: leaf
            for leaf in RecordLeaf.objects.filter(
                kind=PART_RECORD, record_id__in=[str(record.pk) for record in records]
            ).select_related("batch__chain_tx")
        }
        if records
        else {}
    )
    figures: dict[int, dict[str, int]] = {}
    for record in records:
        counts = figures.setdefault(
            record.order.shop_id,
            {"quality_passed": 0, "quality_failed": 0, "quality_pending": 0, "quality_altered": 0},
        )
        counts[_quality_state(record, leaves.get(str(record.pk)))] += 1
    return figures


def _quality_state(record: PartRecord, leaf: RecordLeaf | None) -> str:
    if leaf is None:
        return "quality_pending"  # not queued for anchoring (yet)
    # The record's hash was taken when it was reported, so any mismatch, anchored or not, means
    # the live row changed since.
    problem = leaf_problem(leaf, part_record_content(record))
    if problem is not None and problem[0] == "altered":
        return "quality_altered"
    if not anchor_state(leaf).is_final:
        return "quality_pending"
    return "quality_passed" if record.passed else "quality_failed"


def shop_performances(organization_ids: Iterable[int]) -> dict[int, ShopPerformance]:
    """The performance of each shop, in a constant number of queries whatever their number
    (shops with no history get an empty record)."""
    ids = sorted(set(organization_ids))
    if not ids:
        return {}
    orders = _order_figures(ids)
    quality = _quality_figures(ids)
    return {
        shop_id: ShopPerformance(
            organization_id=shop_id, **orders.get(shop_id, {}), **quality.get(shop_id, {})
        )
        for shop_id in ids
    }


def shop_performance(organization: Organization) -> ShopPerformance:
    """One shop's performance (see `shop_performances`)."""
    return shop_performances([organization.pk])[organization.pk]


def verified_shop_profile_get(*, organization_id: int) -> PrintShopProfile:
    """A verified print shop's profile, for anyone; 404 for any other organisation."""
    profile = (
        PrintShopProfile.objects.filter(
            organization_id=organization_id,
            organization__kind=Organization.Kind.PRINT_SHOP,
            verified_at__isnull=False,
        )
        .select_related("organization")
        .first()
    )
    if profile is None:
        raise Http404("No such print shop.")
    return profile


@dataclass(frozen=True)
class RankedBid:
    rank: int
    shop: str
    price: int
    lead_time_days: int
    # The bidder's performance (printshops/performance.py): deliveries, quality, disputes.
    record: ShopPerformance
    bid: Bid


def job_bids_ranked(*, job: Job) -> list[RankedBid] | None:
    """The job's revealed bids, from their final BidRevealed events, in the AuctionHouse's order:
    the lowest price first, a tie going to the shop that committed first (its first BidCommitted
    event; a newer version keeps its place), as the contract decides the winner. Lead time and
    performance are shown beside each bid, never used to reorder them, so the first row at or
    under the reserve is the contract's winner. None before the reveal deadline, when no price
    may be seen. The bidders' performances take a constant number of queries, whatever their
    number."""
    if timezone.now() < job.reveal_deadline:
        return None
    bids = list(
        Bid.objects.filter(job=job, reveal_event__isnull=False).select_related(
            "organization__shop_profile"
        )
    )
    first_commit = _first_commits(job)
    records = shop_performances(bid.organization_id for bid in bids)
    bids.sort(
        key=lambda bid: (
            bid.price or 0,
            first_commit.get(bid.shop_address, (_NEVER, _NEVER)),
            bid.created_at,
        )
    )
    return [
        RankedBid(
            rank=rank,
            shop=bid.organization.name,
            price=int(bid.price or 0),
            lead_time_days=bid.lead_time_days or 0,
            record=records[bid.organization_id],
            bid=bid,
        )
        for rank, bid in enumerate(bids, start=1)
    ]


# After every position on chain: a bid whose commitment event is not indexed ranks last of its
# price (the contract ranks it by a commitment the indexer has not seen yet).
_NEVER = 2**63


def _first_commits(job: Job) -> dict[str, tuple[int, int]]:
    """Each shop's first BidCommitted event on `job`, as (block, log index): the order in which
    the AuctionHouse numbered their commitments."""
    events = (
        ChainEvent.objects.filter(
            contract="AuctionHouse", name="BidCommitted", removed=False, args__jobId=str(job.pk)
        )
        .order_by("block_number", "log_index")
        .values_list("args__shop", "block_number", "log_index")
    )
    first: dict[str, tuple[int, int]] = {}
    for shop, block, index in events:
        first.setdefault(str(shop), (block, index))
    return first
