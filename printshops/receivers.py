"""What printshops adds to marketplace's rules and pages, through marketplace.signals (marketplace
never imports printshops: docs/architecture.md). Connected in PrintshopsConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from django.urls import reverse

from config.errors import DomainError
from marketplace.models import Job, Order, Organization
from marketplace.signals import (
    job_cancel_check,
    job_page_section,
    order_moved,
    order_release_check,
    organization_signed_up,
)
from printshops.models import PrintShopProfile
from printshops.performance import job_bids_ranked
from printshops.selectors import job_licence
from printshops.services import certificates_issue, licence_close, licence_open
from printshops.services.quality_gate import require_quality_gate
from printshops.views.production import production_context


@receiver(organization_signed_up)
def shop_profile_create(*, organization: Organization, **kwargs: Any) -> None:
    if organization.is_print_shop:
        PrintShopProfile.objects.create(organization=organization)


@receiver(job_cancel_check)
def job_cancel_refuse_with_bids(*, job: Job, **kwargs: Any) -> None:
    """Shops that bid have committed to their price on chain; the auction runs to its end (it
    fails by itself if no bid is valid under the reserve)."""
    if job.bids.exists():
        raise DomainError(
            "Shops have bid on this job, so it can no longer be cancelled: the auction runs to "
            "its end.",
            code="has_bids",
            status=409,
        )


@receiver(order_release_check)
def order_release_hold_for_quality(*, order: Order, **kwargs: Any) -> None:
    """The customer accepts, or the escrow releases by itself, only once the job's required
    quality records are anchored, final and passing (printshops/services/quality_gate.py)."""
    require_quality_gate(order)


# What an escrow step means for the shop's licence: funded, the designs are released under it;
# accepted, resolved or refunded, it closes (accepted: each shipped part gets its certificate).
_LICENCE_CLOSED_BY = {
    "EscrowReleased": "accepted",
    "DisputeResolved": "resolved",
    "EscrowRefunded": "refunded",
}


@receiver(order_moved)
def licence_follow_escrow(*, order: Order, event: str, reverted: bool, **kwargs: Any) -> None:
    if reverted:
        # A reorg that takes the funding away revokes the releases (a shop that already
        # decrypted a file keeps it: DESIGN.md section 5). Other steps stay as they were.
        if event == "EscrowFunded":
            licence_close(order=order, reason="funding_reorged")
        return
    if event == "EscrowFunded":
        licence_open(order=order)
    elif event in _LICENCE_CLOSED_BY:
        licence_close(order=order, reason=_LICENCE_CLOSED_BY[event])
        if event == "EscrowReleased":
            certificates_issue(order=order)


@receiver(job_page_section)
def job_page_shop_sections(*, job: Job, section: str, **kwargs: Any) -> dict[str, Any]:
    """The order panel's bids (ranked after the reveal) and licence with its print tickets; the
    production section's part timelines and quality gate."""
    if section == "order":
        return {
            "bids_ranked": job_bids_ranked(job=job),
            "bid_count": job.bids.count(),
            "licence": job_licence(job=job),
        }
    if section == "production":
        return production_context(
            job, timeline_url=reverse("job_production_timeline", args=[job.pk])
        )
    return {}
