"""Browser views for accounts: the home page, sign-up, login and the dashboard."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from config.errors import DomainError
from marketplace.forms import LoginForm, SignUpConfirmForm, SignUpForm
from marketplace.services import accounts
from marketplace.views.common import request_user


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
    organization = request_user(request).organization
    if organization is not None and organization.is_print_shop:
        return redirect("shop_profile")
    if organization is None:
        return render(request, "marketplace/no_organization.html")
    return redirect("job_list")
