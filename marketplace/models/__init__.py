"""marketplace's models, by topic: accounts.py (users, organisations, wallets, audit), jobs.py
(jobs and design files), orders.py (orders, disputes, payouts, shops' order tallies)."""

from marketplace.models.accounts import (
    AuditEvent,
    CustomerWallet,
    Membership,
    Notice,
    Organization,
    PendingSignUp,
    User,
    UserManager,
    new_owner_ref,
)
from marketplace.models.jobs import DesignFile, Job
from marketplace.models.orders import Dispute, Order, Payout, ShopOrderTally

__all__ = [
    "AuditEvent",
    "CustomerWallet",
    "DesignFile",
    "Dispute",
    "Job",
    "Membership",
    "Notice",
    "Order",
    "Organization",
    "Payout",
    "PendingSignUp",
    "ShopOrderTally",
    "User",
    "UserManager",
    "new_owner_ref",
]
