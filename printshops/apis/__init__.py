"""The shop API under /api/v1/ (DESIGN.md section 6): jobs, keys, bids, orders and payouts
(shop.py); released designs and print tickets (designs.py); production events, quality
measurements and the quality gate (production.py); who may call what
(permissions.py)."""

from printshops.apis.designs import JobPrintTicketsApi, ReleaseCiphertextApi, ReleaseListApi
from printshops.apis.production import (
    JobEventsApi,
    JobEvidenceApi,
    JobQualityApi,
    JobQualityBatchApi,
    JobQualityGateApi,
    JobRecordsApi,
)
from printshops.apis.shop import (
    BidListApi,
    ChainInfoApi,
    JobBidRevealApi,
    JobBidsApi,
    JobDetailApi,
    JobListApi,
    OrderDeliveredApi,
    OrderListApi,
    PayoutsApi,
    PayoutWithdrawApi,
    ShopKeyChallengeApi,
    ShopKeysApi,
)

__all__ = [
    "BidListApi",
    "ChainInfoApi",
    "JobBidRevealApi",
    "JobBidsApi",
    "JobDetailApi",
    "JobEventsApi",
    "JobEvidenceApi",
    "JobListApi",
    "JobPrintTicketsApi",
    "JobQualityApi",
    "JobQualityBatchApi",
    "JobQualityGateApi",
    "JobRecordsApi",
    "OrderDeliveredApi",
    "OrderListApi",
    "PayoutWithdrawApi",
    "PayoutsApi",
    "ReleaseCiphertextApi",
    "ReleaseListApi",
    "ShopKeyChallengeApi",
    "ShopKeysApi",
]
