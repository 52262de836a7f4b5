"""A job's production section (DESIGN.md section 3 steps 9 and 10): each part's timeline and
the quality gate, on the customer's job page and the shop's order page (a partial both poll),
and the evidence files behind them."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from marketplace import selectors
from marketplace.models import Job, Order
from marketplace.views.common import request_user, stored_evidence_response
from printshops import selectors as shop_selectors
from printshops.selectors.overview import production_overview
from printshops.services.quality_gate import quality_gate


def production_context(job: Job, *, timeline_url: str) -> dict[str, Any]:
    """What a job's production section shows (the customer's job page, the shop's order page):
    each part's timeline and the quality gate; `timeline_url` is where the timeline polls for
    itself."""
    order = Order.objects.filter(job=job).select_related("job").first()
    if order is None:
        return {
            "timelines": [],
            "overview": None,
            "gate": None,
            "polling": False,
            "timeline_url": timeline_url,
        }
    timelines = shop_selectors.order_part_timelines(order=order)
    producing = order.status in (Order.Status.FUNDED, Order.Status.DELIVERED, Order.Status.DISPUTED)
    anchoring = any(not entry.anchor.is_final for part in timelines for entry in part.entries)
    return {
        "timelines": timelines,
        "overview": production_overview(timelines),
        # For the stage stepper (marketplace/stages.py): production has begun, parts shipped.
        "parts_started": sum(1 for part in timelines if part.entries),
        "parts_shipped": sum(1 for part in timelines if part.shipped),
        # Certificates are issued at release for the parts reported shipped whose verdict
        # passes (certificates_issue); a shipped part without one says why (its verdict).
        "released": order.status == Order.Status.RELEASED,
        "no_certificates": order.status == Order.Status.RELEASED
        and not any(part.certificate or part.shipped for part in timelines),
        "gate": quality_gate(order=order)
        if job.required_characteristics or job.requires_machine_attestation
        else None,
        # Poll while records may still arrive or their anchors are not final.
        "polling": producing or anchoring,
        "timeline_url": timeline_url,
    }


@login_required
@require_GET
def job_production_timeline(request: HttpRequest, job_id: int) -> HttpResponse:
    """The production timeline alone: the job page polls it while the shop is producing."""
    job = selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    return production_timeline_response(request, job)


def production_timeline_response(request: HttpRequest, job: Job) -> HttpResponse:
    """The production timeline alone, as a page polls it at its own address (the quality gate's
    badge swapped out of band)."""
    return render(
        request,
        "printshops/partials/production_timeline.html",
        {"job": job, "oob": True, **production_context(job, timeline_url=request.path)},
    )


@login_required
@require_GET
def evidence_download(request: HttpRequest, job_id: int, evidence_id: uuid.UUID) -> FileResponse:
    """An evidence file of the customer's job (or the shop's own order)."""
    evidence = shop_selectors.evidence_for_user(
        user=request_user(request), job_id=job_id, evidence_id=evidence_id
    )
    return stored_evidence_response(evidence.blob, evidence.name, evidence.content_type)
