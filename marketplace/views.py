"""Browser views for customers. Thin: parse, call one service or selector, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError
from ledger.models import Deployment
from marketplace import selectors, services
from marketplace.forms import (
    JobFilterForm,
    JobForm,
    LoginForm,
    SignUpConfirmForm,
    SignUpForm,
)
from marketplace.models import Job, Order, Organization, User
from marketplace.services import accounts, escrow
from marketplace.trace_views import production_context
from marketplace.uploads import EncryptedUpload, EncryptingUploadHandler
from printfair.envelope import EnvelopeError

JOBS_PER_PAGE = 25


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - guaranteed by login_required
    return request.user


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "marketplace/home.html")


#: Where a browser keeps the keys of the sign-ups it started (marketplace/services/accounts.py).
SIGNUP_SESSION_KEY = "signup_browser_keys"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            started = accounts.signup_start(
                **form.cleaned_data, site=request.build_absolute_uri("/").rstrip("/")
            )
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            # Kept whether or not the address has an account: the responses must not differ.
            keys = request.session.get(SIGNUP_SESSION_KEY, [])[-4:]
            request.session[SIGNUP_SESSION_KEY] = [*keys, started.browser_key]
            console = settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
            return render(
                request,
                "registration/signup_sent.html",
                {"email": started.email, "mail_on_console": console},
            )
    return render(request, "registration/signup.html", {"form": form})


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed at sign-up. In the browser that signed up it finishes at once (a GET that
    writes, as mail links must: it needs both the mailed token and that browser's session, so no
    prefetcher or third party can fire it); elsewhere it asks for the sign-up's password."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpConfirmForm(request.POST or None)
    password = (
        form.cleaned_data["password"] if request.method == "POST" and form.is_valid() else None
    )
    try:
        user = accounts.signup_confirm(
            token=token,
            browser_keys=request.session.get(SIGNUP_SESSION_KEY, []),
            password=password,
        )
    except DomainError as exc:
        if exc.code == "signup_link_invalid":
            return render(request, "registration/signup_link_invalid.html", status=404)
        if exc.code == "email_taken":
            return render(request, "registration/signup_account_exists.html")
        if exc.code == "wrong_password":
            exc.add_to_form(form)
        return render(request, "registration/signup_confirm.html", {"form": form})
    request.session.pop(SIGNUP_SESSION_KEY, None)
    login(request, user, backend=MODEL_BACKEND)
    messages.success(request, f"Welcome to PrintFair, {user.get_short_name()}.")
    return redirect("dashboard")


def login_locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """What django-axes answers a locked-out login with (AXES_LOCKOUT_CALLABLE), on the site's
    pages and the admin's: the same for every address, known or not."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = max(1, round(cool_off.total_seconds() / 60))
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)


class PrintFairLoginView(LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    organization = _user(request).organization
    if organization is not None and organization.is_print_shop:
        return redirect("shop_profile")
    if organization is None:
        return render(request, "marketplace/no_organization.html")
    return redirect("job_list")


@login_required
def organization_detail(request: HttpRequest) -> HttpResponse:
    organization = _user(request).organization
    if organization is None:
        return render(request, "marketplace/no_organization.html")
    members = organization.memberships.select_related("user").order_by("created_at")
    context: dict[str, Any] = {"organization": organization, "members": members}
    if organization.is_customer:
        context.update(_wallet_context(organization, request.GET.get("own_address", "").strip()))
    return render(request, "marketplace/organization.html", context)


def _wallet_context(organization: Organization, own_address: str) -> dict[str, Any]:
    """The wallet card: its address and what the chain says it holds (at the latest block; the
    money states of orders come from final events)."""
    wallet = services.customer_wallet_for(organization=organization)
    context: dict[str, Any] = {
        "wallet": wallet,
        "faucet": settings.PRINTFAIR_FAUCET,
        "own_address": own_address,
        # The exact text to sign for the address the customer entered.
        "own_wallet_message": escrow.own_wallet_message(
            organization=organization, address=own_address
        )
        if own_address
        else "",
        "can_register_own": not organization.jobs.filter(auction_tx__isnull=False).exists(),
    }
    try:
        context["balance"] = escrow.token_balance(wallet.address)
        context["pending"] = escrow.pending_withdrawal(wallet.address)
    except DomainError as exc:
        context["chain_error"] = exc.message
    return context


def _organization_action(
    request: HttpRequest, action: Any, done: str, **kwargs: Any
) -> HttpResponse:
    try:
        action(actor=_user(request), **kwargs)
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
        escrow.wallet_faucet,
        f"{escrow.format_amount(escrow.FAUCET_AMOUNT)} test USD are on their way to your wallet.",
    )


@login_required
@require_POST
def wallet_withdraw(request: HttpRequest) -> HttpResponse:
    return _organization_action(
        request, escrow.customer_withdraw, "Withdrawal sent: refunds move to your wallet."
    )


@login_required
@require_POST
def wallet_register_own(request: HttpRequest) -> HttpResponse:
    return _organization_action(
        request,
        escrow.customer_wallet_register_own,
        "Your organisation now pays from its own address.",
        address=request.POST.get("address", "").strip(),
        signature=request.POST.get("signature", "").strip(),
    )


# --- jobs -----------------------------------------------------------------------------------


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.organization is None or not user.organization.is_customer:
        return redirect("dashboard")
    filters = JobFilterForm(request.GET or None)
    params = filters.cleaned_data if filters.is_valid() else {}
    jobs = selectors.job_list_for_user(
        user=user,
        status=params.get("status", ""),
        process=params.get("process", ""),
        query=params.get("query", ""),
    )
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "marketplace/job_list.html", {"filters": filters, "page": page})


@login_required
@require_http_methods(["GET", "POST"])
def job_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.organization is None or not user.organization.is_customer:
        messages.error(request, "Only customer organisations post jobs.")
        return redirect("dashboard")
    form = JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = services.job_create(actor=user, spec=form.spec())
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, "Draft saved. Now add its design files.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "marketplace/job_form.html", {"form": form, "job": None})


@login_required
@require_http_methods(["GET", "POST"])
def job_edit(request: HttpRequest, job_id: int) -> HttpResponse:
    user = _user(request)
    job = selectors.job_get_for_user(user=user, job_id=job_id)
    if not job.is_editable:
        messages.error(request, "Only draft jobs can be edited.")
        return redirect("job_detail", job_id=job.pk)
    form = JobForm(request.POST or None, instance=job)
    if request.method == "POST" and form.is_valid():
        try:
            services.job_update(actor=user, job=job, spec=form.spec())
        except DomainError as exc:
            exc.add_to_form(form)
        else:
            messages.success(request, "Job saved.")
            return redirect("job_detail", job_id=job.pk)
    return render(request, "marketplace/job_form.html", {"form": form, "job": job})


def _files_context(job: Job, **extra: Any) -> dict[str, Any]:
    files = list(selectors.design_file_list_for_job(job=job))
    registering = any(f.registration and not f.registration.is_settled for f in files)
    return {"job": job, "files": files, "registering": registering, **extra}


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = selectors.job_get_for_user(user=_user(request), job_id=job_id)
    context = _files_context(job, max_upload_bytes=settings.PRINTFAIR_MAX_UPLOAD_BYTES)
    context.update(_order_context(job))
    context.update(
        production_context(job, timeline_url=reverse("job_production_timeline", args=[job.pk]))
    )
    return render(request, "marketplace/job_detail.html", context)


def _order_context(job: Job) -> dict[str, Any]:
    order = Order.objects.filter(job=job).select_related("shop").first()
    actions = list(selectors.job_chain_actions(job=job)[:10])
    wallet = services.customer_wallet_for(organization=job.organization)
    now = timezone.now()
    return {
        "order": order,
        "bids_ranked": selectors.job_bids_ranked(job=job),
        "bid_count": job.bids.count(),
        "trail": selectors.job_money_trail(job=job),
        "actions": actions,
        # The panel polls while a call is on its way, a deadline is about to move things, or
        # the shop is printing (tickets arrive).
        "in_flight": any(not tx.is_settled for tx in actions)
        or job.status in (Job.Status.OPEN, Job.Status.REVEALING)
        or (order is not None and order.status in (Order.Status.FUNDED, Order.Status.DELIVERED)),
        "licence": selectors.job_licence(job=job),
        "wallet": wallet,
        "refund_open": order is not None
        and order.status == Order.Status.FUNDED
        and now > order.delivery_deadline,
        "claim_open": order is not None
        and order.status == Order.Status.DELIVERED
        and (order.claim_deadline is None or now < order.claim_deadline),
        "auction_house": Deployment.objects.filter(
            chain_id=settings.CHAIN_ID, name="AuctionHouse"
        ).first(),
    }


@login_required
@require_GET
def job_order_panel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Bids, order and escrow alone: the job page polls it while the chain is moving."""
    job = selectors.job_get_for_user(user=_user(request), job_id=job_id)
    return render(request, "marketplace/partials/order.html", {"job": job, **_order_context(job)})


@login_required
@require_POST
def order_fund(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(
        request, job_id, escrow.escrow_fund, "Funding sent: the escrow shows it once final."
    )


@login_required
@require_POST
def order_accept(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(
        request, job_id, escrow.order_accept, "Accepted: the escrow pays the shop once final."
    )


@login_required
@require_POST
def order_claim_refund(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(
        request, job_id, escrow.order_claim_refund, "Refund claimed: it shows once final."
    )


@login_required
@require_POST
def order_dispute(request: HttpRequest, job_id: int) -> HttpResponse:
    user = _user(request)
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


@login_required
@require_GET
def design_file_table(request: HttpRequest, job_id: int) -> HttpResponse:
    """The files table alone: the job page polls it while registrations are on their way."""
    job = selectors.job_get_for_user(user=_user(request), job_id=job_id)
    return render(request, "marketplace/partials/design_files.html", _files_context(job))


def _job_action(request: HttpRequest, job_id: int, action: Any, done: str) -> HttpResponse:
    user = _user(request)
    job = selectors.job_get_for_user(user=user, job_id=job_id)
    try:
        action(actor=user, job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_POST
def job_publish(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(
        request, job_id, services.job_publish, "Published: verified print shops can now bid."
    )


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    return _job_action(request, job_id, services.job_cancel, "Job cancelled.")


# --- design files ---------------------------------------------------------------------------


@csrf_exempt  # CSRF is checked by _receive_files, once our upload handler is in place.
@login_required
@require_POST
def design_file_upload(request: HttpRequest, job_id: int) -> HttpResponse:
    """Receive design files. Ownership is checked before a byte of the body is read, and the
    upload handler must be installed before the body is parsed (hence the CSRF split)."""
    job = selectors.job_get_for_user(user=_user(request), job_id=job_id)
    if not job.is_editable:
        # Refuse before reading the body, rather than encrypting files only to drop them.
        message = "Files can only be added while the job is a draft."
        if _is_htmx(request):
            return render(
                request,
                "marketplace/partials/design_files.html",
                _files_context(job, errors=[message]),
            )
        messages.error(request, message)
        return redirect("job_detail", job_id=job.pk)
    handler = EncryptingUploadHandler(request)
    request.upload_handlers = [handler]
    return _receive_files(request, job, handler)


@csrf_protect
def _receive_files(
    request: HttpRequest, job: Job, handler: EncryptingUploadHandler
) -> HttpResponse:
    user = _user(request)
    uploads = request.FILES.getlist("files")  # parses the body, running the handler
    errors = list(handler.errors)
    added = []
    for upload in uploads:
        assert isinstance(upload, EncryptedUpload)  # noqa: S101 - the only handler installed
        try:
            added.append(services.design_file_attach(actor=user, job=job, upload=upload))
        except DomainError as exc:
            errors.append(exc.message)
    if not uploads and not errors:
        errors.append("Choose one or more files to upload.")
    if _is_htmx(request):
        job.refresh_from_db()
        return render(
            request,
            "marketplace/partials/design_files.html",
            _files_context(job, errors=errors, added=added),
        )
    for message in errors:
        messages.error(request, message)
    if added:
        messages.success(request, f"Uploaded {len(added)} file{'s' if len(added) != 1 else ''}.")
    return redirect("job_detail", job_id=job.pk)


@login_required
@require_GET
def design_file_download(request: HttpRequest, job_id: int, file_id: uuid.UUID) -> HttpResponseBase:
    user = _user(request)
    design_file = selectors.design_file_get_for_user(user=user, job_id=job_id, file_id=file_id)
    try:
        stream = services.design_file_plaintext(actor=user, design_file=design_file)
    except EnvelopeError:
        messages.error(request, "This file cannot be decrypted; the operators have been told.")
        return redirect("job_detail", job_id=job_id)
    response = StreamingHttpResponse(stream, content_type="application/octet-stream")
    response["Content-Length"] = str(design_file.size_bytes)
    response["Content-Disposition"] = content_disposition_header(True, design_file.original_name)
    return response


@login_required
@require_POST
def design_file_delete(request: HttpRequest, job_id: int, file_id: uuid.UUID) -> HttpResponse:
    user = _user(request)
    design_file = selectors.design_file_get_for_user(user=user, job_id=job_id, file_id=file_id)
    try:
        services.design_file_delete(actor=user, design_file=design_file)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed “{design_file.original_name}”.")
    return HttpResponseRedirect(reverse("job_detail", args=[job_id]))


@require_GET
def design_proof(request: HttpRequest, sha256: str) -> HttpResponse:
    """Public: a design's proof of existence, and how to check it without PrintFair."""
    proof = selectors.design_proof(sha256=sha256, viewer=request.user)
    return render(request, "marketplace/design_proof.html", {"proof": proof})
