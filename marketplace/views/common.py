"""What the browser views share: the logged-in user, htmx requests, actions on a job, the
organisation's wallet as pages show it, and stored evidence files as they are sent."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
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
        # Tagged with its code: the page can take it down once it no longer holds (a missing
        # design file's, by the upload that adds one).
        messages.error(request, exc.message, extra_tags=exc.code)
    else:
        messages.success(request, done)
    return redirect("job_detail", job_id=job.pk)


def wallet_context(wallet: CustomerWallet | None) -> dict[str, Any]:
    """The organisation's wallet as the pages show it, read with selectors.customer_wallet_get
    and never made by a page (no writes on GET): None until the first action that needs one
    makes it (test dollars, the first published job, an escrow call), and that one is
    custodial, so none yet shows as custodial."""
    return {"wallet": wallet, "custodial": wallet is None or wallet.is_custodial}


def stored_evidence_response(blob: str, name: str, content_type: str) -> FileResponse:
    """A stored evidence file as sent by a shop or customer: photos shown inline, anything else
    downloaded, and nothing in it run by the browser."""
    try:
        handle = default_storage.open(blob, "rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(
        handle,
        content_type=content_type,
        filename=name,
        as_attachment=not content_type.startswith("image/"),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    return response
