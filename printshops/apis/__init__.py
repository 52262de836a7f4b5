"""The shop API under /api/v1/ (DESIGN.md section 6), a module per resource: open jobs
(jobs.py); the shop's keys (keys.py); sealed bids (bids.py); won jobs and their delivery
(orders.py); withdrawals (payouts.py); the chain settled on, and the state of chain writes
(chain.py); released designs and print tickets (designs.py); production events, quality
measurements and the quality gate (production.py); who may call what (permissions.py)."""

from printshops.apis.bids import BidsApi, JobBidRevealApi, JobBidsApi
from printshops.apis.chain import ChainInfoApi
from printshops.apis.designs import JobPrintTicketsApi, ReleaseCiphertextApi, ReleaseListApi
from printshops.apis.jobs import JobDetailApi, JobListApi
from printshops.apis.keys import ShopKeyChallengeApi, ShopKeysApi
from printshops.apis.orders import OrderDeliveredApi, OrderListApi
from printshops.apis.payouts import PayoutsApi, PayoutWithdrawApi
from printshops.apis.production import (
    JobEventsApi,
    JobEvidenceApi,
    JobQualityApi,
    JobQualityBatchApi,
    JobQualityGateApi,
    JobRecordsApi,
)

__all__ = [
    "BidsApi",
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
