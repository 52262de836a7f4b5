"""The shop API under /api/v1/ (DESIGN.md section 6): jobs, keys, bids, orders and payouts
(shop.py); released designs and print tickets (designs.py); who may call what
(permissions.py)."""

from printshops.apis.designs import JobPrintTicketsApi, ReleaseCiphertextApi, ReleaseListApi
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
    "JobListApi",
    "JobPrintTicketsApi",
    "OrderDeliveredApi",
    "OrderListApi",
    "PayoutWithdrawApi",
    "PayoutsApi",
    "ReleaseCiphertextApi",
    "ReleaseListApi",
    "ShopKeyChallengeApi",
    "ShopKeysApi",
]
