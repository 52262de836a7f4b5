"""Reads, always scoped to the requester (STYLE.md rules 1 and 7), by topic: the shop's own
(shop.py), an order's production (production.py), public verification (verification.py). The
names callers use are importable from here."""

from printshops.selectors.bids import bid_outcome_counts, bids_for_shop
from printshops.selectors.production import (
    PartTimeline,
    TimelineEntry,
    certificate_for_user,
    evidence_for_user,
    order_part_timelines,
)
from printshops.selectors.shop import (
    LicenceView,
    TicketRow,
    api_key_get_for_user,
    api_key_list_for_user,
    chain_info,
    job_licence,
    order_for_shop,
    part_records_for_shop,
    payout_state,
    release_for_download,
    releases_for_shop,
    tickets_for_shop,
    withdrawals_in_flight,
)
from printshops.selectors.verification import (
    IncludedCheck,
    Verification,
    proof_bundle_for,
    public_record,
    verification_for,
)

__all__ = [
    "IncludedCheck",
    "LicenceView",
    "PartTimeline",
    "TicketRow",
    "TimelineEntry",
    "Verification",
    "api_key_get_for_user",
    "api_key_list_for_user",
    "bid_outcome_counts",
    "bids_for_shop",
    "certificate_for_user",
    "chain_info",
    "evidence_for_user",
    "job_licence",
    "order_for_shop",
    "order_part_timelines",
    "part_records_for_shop",
    "payout_state",
    "proof_bundle_for",
    "public_record",
    "release_for_download",
    "releases_for_shop",
    "tickets_for_shop",
    "verification_for",
    "withdrawals_in_flight",
]
