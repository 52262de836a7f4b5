"""Browser pages for print shops: their profile, API keys, a read-only list of open jobs, their
bids and what each came to, and their orders with each part's production records."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from marketplace import selectors as job_selectors
from marketplace.catalog import Certification, Material, Process
from marketplace.models import User
from marketplace.stages import job_stage
from printshops import performance, selectors, services
from printshops.forms import ApiKeyForm, ShopProfileForm
from printshops.models import Bid
from printshops.views.production import production_context, production_timeline_response

View = Callable[..., HttpResponse]

ORDERS_PER_PAGE = 25


def shop_required(view: View) -> View:
    """Pages for print-shop members; everyone else is sent to their own dashboard."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        organization = request.user.organization if isinstance(request.user, User) else None
        if organization is None or not organization.is_print_shop:
            messages.error(request, "That page is for print shops.")
            return redirect("dashboard")
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by shop_required
    return request.user


@shop_required
@require_http_methods(["GET", "POST"])
def shop_profile(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    profile = user.organization.shop_profile  # type: ignore[union-attr]
    form = ShopProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.shop_profile_update(actor=user, capabilities=form.capabilities())
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, "Profile saved.")
            return redirect("shop_profile")
    return render(request, "printshops/profile.html", {"form": form, "profile": profile})


@shop_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ApiKeyForm(request.POST or None)
    token = None
    if request.method == "POST" and form.is_valid():
        try:
            _, token = services.api_key_create(
                actor=user,
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            form = ApiKeyForm()
    keys = selectors.api_key_list_for_user(user=user)
    return render(request, "printshops/api_keys.html", {"form": form, "keys": keys, "token": token})


@shop_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    user = _user(request)
    key = selectors.api_key_get_for_user(user=user, key_id=key_id)
    services.api_key_revoke(actor=user, api_key=key)
    messages.success(request, f"Revoked “{key.name}”. Programs using it are refused from now on.")
    return redirect("api_keys")


@shop_required
@require_GET
def open_jobs(request: HttpRequest) -> HttpResponse:
    """The same jobs the API lists, for reading in a browser. Verified shops only."""
    profile = _user(request).organization.shop_profile  # type: ignore[union-attr]
    jobs = (
        job_selectors.job_list_open().order_by("commit_deadline", "id")
        if profile.is_verified
        else None
    )
    page = Paginator(jobs, 25).get_page(request.GET.get("page")) if jobs is not None else None
    return render(request, "printshops/open_jobs.html", {"page": page, "profile": profile})


@shop_required
@require_GET
def shop_bids(request: HttpRequest) -> HttpResponse:
    """The shop's bids, newest first, with what each auction came to for the shop; one outcome
    at a time with `?outcome=` (an unknown one shows them all)."""
    organization = _user(request).organization
    assert organization is not None  # noqa: S101 - guaranteed by shop_required
    outcome = request.GET.get("outcome", "")
    if outcome not in Bid.Outcome.values:
        outcome = ""
    bids = selectors.bids_for_shop(organization=organization, outcome=outcome or None)
    page = Paginator(bids, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    counts = selectors.bid_outcome_counts(organization=organization)
    context = {
        "page": page,
        "outcome": outcome,
        "total": sum(counts.values()),
        "outcomes": [(value, label, counts[value]) for value, label in Bid.Outcome.choices],
        "now": timezone.now(),
    }
    return render(request, "printshops/bids.html", context)


@shop_required
@require_GET
def shop_orders(request: HttpRequest) -> HttpResponse:
    """The jobs the shop won, with their escrow states, and its payouts."""
    user = _user(request)
    organization = user.organization
    assert organization is not None  # noqa: S101 - guaranteed by shop_required
    orders = job_selectors.order_list_for_shop(user=user)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    payouts = job_selectors.payouts_for_organization(organization=organization)
    profile = getattr(organization, "shop_profile", None)
    withdrawing = selectors.withdrawals_in_flight(address=profile.eth_address if profile else "")
    context = {"page": page, "payouts": payouts, "withdrawing": withdrawing}
    return render(request, "printshops/orders.html", context)


@shop_required
@require_GET
def shop_order_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job the shop won, read-only: the order's state and each part's production and quality
    records as the customer sees them, with their anchoring, the quality gate and the
    certificates. The shop reports through the API or `printfair report`."""
    order = selectors.order_for_shop(user=_user(request), job_id=job_id)
    timeline_url = reverse("shop_order_timeline", args=[job_id])
    production = production_context(order.job, timeline_url=timeline_url)
    stage = job_stage(
        order.job,
        order,
        parts_started=production.get("parts_started", 0),
        parts_shipped=production.get("parts_shipped", 0),
        for_shop=True,
    )
    context = {"order": order, "job": order.job, "stage": stage, "now": timezone.now()}
    return render(request, "printshops/order_detail.html", {**context, **production})


@shop_required
@require_GET
def shop_order_timeline(request: HttpRequest, job_id: int) -> HttpResponse:
    """The order's production timeline alone: the shop's order page polls it."""
    order = selectors.order_for_shop(user=_user(request), job_id=job_id)
    return production_timeline_response(request, order.job)


@require_GET
def shop_public_profile(request: HttpRequest, organization_id: int) -> HttpResponse:
    """A verified shop's public profile and performance, for anyone (no login)."""
    profile = performance.verified_shop_profile_get(organization_id=organization_id)
    return render(
        request,
        "printshops/public_profile.html",
        {
            "profile": profile,
            "record": performance.shop_performance(profile.organization),
            "processes": _labels(Process.choices, profile.processes),
            "materials": _labels(Material.choices, profile.materials),
            "certifications": _labels(Certification.choices, profile.certifications),
        },
    )


def _labels(choices: list[tuple[str, str]], codes: list[str]) -> list[str]:
    names = dict(choices)
    return [names.get(code, code) for code in codes]
