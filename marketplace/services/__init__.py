"""Writes for customers, jobs, design files and escrow (STYLE.md rules 1 and 2), one module per
topic; the names callers use are importable from here."""

from marketplace.services import escrow
from marketplace.services.accounts import user_sign_up
from marketplace.services.audit import audit_record
from marketplace.services.designs import (
    design_file_attach,
    design_file_delete,
    design_file_plaintext,
    design_registration_enqueue,
    uploads_purge_abandoned,
)
from marketplace.services.jobs import (
    JOB_SPEC_FIELDS,
    JobSpec,
    auctions_finalize_due,
    job_cancel,
    job_cancel_by_operator,
    job_create,
    job_publish,
    job_spec_errors,
    job_update,
)
from marketplace.services.keys import RotationReport, kek_rotate, kek_usage
from marketplace.services.wallets import customer_wallet_account, customer_wallet_for

__all__ = [
    "JOB_SPEC_FIELDS",
    "JobSpec",
    "RotationReport",
    "auctions_finalize_due",
    "audit_record",
    "customer_wallet_account",
    "customer_wallet_for",
    "design_file_attach",
    "design_file_delete",
    "design_file_plaintext",
    "design_registration_enqueue",
    "escrow",
    "job_cancel",
    "job_cancel_by_operator",
    "job_create",
    "job_publish",
    "job_spec_errors",
    "job_update",
    "kek_rotate",
    "kek_usage",
    "uploads_purge_abandoned",
    "user_sign_up",
]
