"""marketplace's admin, by topic: accounts.py, jobs.py (jobs and design files), orders.py
(orders, disputes, payouts, order tallies). Importing the package registers them all."""

from marketplace.admin import accounts, jobs, orders

__all__ = ["accounts", "jobs", "orders"]
