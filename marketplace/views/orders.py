"""Browser views for the order and its escrow: the panel the job page polls, and the customer's
escrow calls (fund, accept, dispute, claim a refund)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.errors import DomainError
from ledger.models import Deployment
from ledger.services.indexer import chaintx_effects_pending
from marketplace import selectors
from marketplace.models import Job, Order
from marketplace.services import escrow
from marketplace.signals import section_context
from marketplace.views.common import job_action, request_user, wallet_context


def order_context(job: Job) -> dict[str, Any]:
    order = Order.objects.filter(job=job).select_related("shop").first()
    actions = list(selectors.job_chain_actions(job=job)[:10])
    now = timezone.now()
    return {
        "order": order,
        "trail": selectors.job_money_trail(job=job),
        "actions": actions,
        # The panel polls while a call is on its way (until its events are applied), a
        # deadline is about to move things, or the shop is printing (tickets arrive).
        "in_flight": chaintx_effects_pending(actions)
        or job.status in (Job.Status.OPEN, Job.Status.REVEALING, Job.Status.CANCELLING)
        or (order is not None and order.status in (Order.Status.FUNDED, Order.Status.DELIVERED)),
        **wallet_context(selectors.customer_wallet_get(organization=job.organization)),
        "now": now,
        "refund_open": order is not None and order.refund_open(now=now),
        "claim_open": order is not None and order.claim_window_open(now=now),
        "auction_house": Deployment.objects.filter(
            chain_id=settings.CHAIN_ID, name="AuctionHouse"
        ).first(),
        # The bids, the licence and its print tickets (printshops/receivers.py).
        **section_context(job=job, section="order"),
    }


@login_required
@require_GET
def job_order_panel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Bids, order and escrow alone: the job page polls it while the chain is moving."""
    job = selectors.job_get_for_user(user=request_user(request), job_id=job_id)
    return render(request, "marketplace/partials/order.html", {"job": job, **order_context(job)})


@login_required
@require_POST
def order_fund(request: HttpRequest, job_id: int) -> HttpResponse:
    return job_action(
        request, job_id, escrow.escrow_fund, "Funding sent: the escrow shows it once final."
    )


@login_required
@require_POST
def order_accept(request: HttpRequest, job_id: int) -> HttpResponse:
    return job_action(
        request, job_id, escrow.order_accept, "Accepted: the escrow pays the shop once final."
    )


@login_required
@require_POST
def order_claim_refund(request: HttpRequest, job_id: int) -> HttpResponse:
    return job_action(
        request, job_id, escrow.order_claim_refund, "Refund claimed: it shows once final."
    )


@login_required
@require_POST
def order_dispute(request: HttpRequest, job_id: int) -> HttpResponse:
    user = request_user(request)
    job = selectors.job_get_for_user(user=user, job_id=job_id)
    try:
        escrow.order_dispute(
            actor=user,
            job=job,
            statement=request.POST.get("statement", ""),
            files=request.FILES.getlist("evidence"),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Dispute sent with its evidence: an arbiter will decide.")
    return redirect("job_detail", job_id=job.pk)
