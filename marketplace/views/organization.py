"""Browser views for the organisation page and its wallet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.errors import DomainError
from marketplace import selectors
from marketplace.models import Organization
from marketplace.money import format_amount
from marketplace.money_history import money_history
from marketplace.services import accounts, wallets
from marketplace.views.common import request_user, wallet_context


@login_required
def organization_detail(request: HttpRequest) -> HttpResponse:
    organization = request_user(request).organization
    if organization is None:
        return render(request, "marketplace/no_organization.html")
    members = organization.memberships.select_related("user").order_by("created_at")
    context: dict[str, Any] = {
        "organization": organization,
        "members": members,
        **_money_page(organization, request.GET.get("money", "1")),
    }
    if organization.is_customer:
        context.update(_wallet_card(organization, request.GET.get("own_address", "").strip()))
    return render(request, "marketplace/organization.html", context)


#: Movements per page of the money list, and the pages it goes back (older ones: the admin's
#: chain events).
MONEY_PAGE, MONEY_PAGES = 25, 40


def _money_page(organization: Organization, asked: str) -> dict[str, Any]:
    """The money list's page `asked` (1, the newest, when it is not a page number in range):
    its movements, and the numbers of the newer and older pages (None at either end)."""
    number = int(asked) if asked.isdigit() and 1 <= int(asked) <= MONEY_PAGES else 1
    # The history merges three sources, each read newest first: a page needs all before it.
    moves = money_history(organization=organization, limit=number * MONEY_PAGE + 1)
    older = len(moves) > number * MONEY_PAGE and number < MONEY_PAGES
    return {
        "movements": moves[(number - 1) * MONEY_PAGE : number * MONEY_PAGE],
        "money_newer": number - 1 or None,
        "money_older": number + 1 if older else None,
    }


def _wallet_card(organization: Organization, own_address: str) -> dict[str, Any]:
    """The wallet card: its address and what the chain says it holds (at the latest block; the
    money states of orders come from final events)."""
    wallet = selectors.customer_wallet_get(organization=organization)
    context: dict[str, Any] = {
        **wallet_context(wallet),
        "faucet": settings.PRINTFAIR_FAUCET,
        "own_address": own_address,
        # The exact text to sign for the address the customer entered.
        "own_wallet_message": wallets.own_wallet_message(
            organization=organization, address=own_address
        )
        if own_address
        else "",
        "can_register_own": selectors.paying_address_changeable(organization=organization),
    }
    if wallet is None:  # nothing to ask the chain: an address not made yet holds nothing
        context["balance"] = context["pending"] = 0
        return context
    try:
        context["balance"] = selectors.token_balance(wallet.address)
        context["pending"] = selectors.pending_withdrawal(wallet.address)
    except DomainError as exc:
        context["chain_error"] = exc.message
    return context


def _organization_action(
    request: HttpRequest, action: Any, done: str, **kwargs: Any
) -> HttpResponse:
    try:
        action(actor=request_user(request), **kwargs)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("organization")


@login_required
@require_POST
def wallet_faucet(request: HttpRequest) -> HttpResponse:
    return _organization_action(
        request,
        wallets.wallet_faucet,
        f"{format_amount(wallets.FAUCET_AMOUNT)} test USD are on their way to your wallet.",
    )


@login_required
@require_POST
def wallet_withdraw(request: HttpRequest) -> HttpResponse:
    return _organization_action(
        request, wallets.customer_withdraw, "Withdrawal sent: refunds move to your wallet."
    )


@login_required
@require_POST
def wallet_register_own(request: HttpRequest) -> HttpResponse:
    return _organization_action(
        request,
        wallets.customer_wallet_register_own,
        "Your organisation now pays from its own address.",
        address=request.POST.get("address", "").strip(),
        signature=request.POST.get("signature", "").strip(),
    )


@login_required
@require_POST
def account_notifications(request: HttpRequest) -> HttpResponse:
    """The signed-in person's own choice of e-mail about its jobs' or orders' moments."""
    user = request_user(request)
    accounts.user_notifications_set(
        actor=user, enabled=request.POST.get("email_notifications") == "on"
    )
    if user.email_notifications:
        messages.success(request, f"You will get e-mail at {user.email} when your jobs need you.")
    else:
        messages.success(request, "No more e-mail about your jobs' moments: the pages still say.")
    return redirect("organization")
