"""What the browser views share: the logged-in user, htmx requests, actions on a job, and the
organisation's wallet as pages show it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from config.errors import DomainError
from marketplace import selectors
from marketplace.models import CustomerWallet, User


def request_user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def job_action(request: HttpRequest, job_id: int, action: Any, done: str) -> HttpResponse:
    """Run `action(actor=..., job=...)` on the customer's job and go back to its page, saying
    what happened."""
    user = request_user(request)
    job = selectors.job_get_for_user(user=user, job_id=job_id)
    try:
        action(actor=user, job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("job_detail", job_id=job.pk)


def wallet_context(wallet: CustomerWallet | None) -> dict[str, Any]:
    """The organisation's wallet as the pages show it, read with selectors.customer_wallet_get
    and never made by a page (no writes on GET): None until the first action that needs one
    makes it (test dollars, the first published job, an escrow call), and that one is
    custodial, so none yet shows as custodial."""
    return {"wallet": wallet, "custodial": wallet is None or wallet.is_custodial}
