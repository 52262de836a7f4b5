"""Writes for accounts and organisations (STYLE.md rules 1 and 2).

Signing up in the browser takes two steps so that the sign-up page never tells anyone whether an
address has an account, and nobody can claim an address they do not read:

1. `signup_start` keeps the form as a `PendingSignUp` (password hashed, link token hashed) and
   mails a link to the address; if the address already has an account, its owner is mailed a
   warning instead. Either way the visitor sees the same page, after the same work.
2. `signup_confirm` turns the pending sign-up into the account once the link is followed, in the
   browser that signed up or, in any other, with the password chosen at sign-up: someone who signs
   up with another person's address cannot get them to activate an account the signer controls.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from config.errors import DomainError
from marketplace.models import (
    Membership,
    Organization,
    PendingSignUp,
    User,
)
from marketplace.services.audit import audit_record
from marketplace.signals import organization_signed_up


def _email_taken() -> DomainError:
    return DomainError(
        "An account with this email address already exists.",
        code="email_taken",
        fields={"email": ["An account with this email address already exists."]},
        status=409,
    )


def _check_kind(kind: str) -> None:
    if kind not in Organization.Kind.values:
        raise DomainError(
            "Unknown organisation kind.", fields={"kind": ["Choose customer or print shop."]}
        )


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, name: str, organization_name: str, kind: str
) -> User:
    """A new user with a new organisation that they own, at once (the demo, benches and tests;
    the browser goes through `signup_start` and `signup_confirm`)."""
    return _account_create(
        email=email,
        password_hash=make_password(password),
        name=name,
        organization_name=organization_name,
        kind=kind,
    )


def _account_create(
    *, email: str, password_hash: str, name: str, organization_name: str, kind: str
) -> User:
    """What every sign-up creates: the user, their organisation, their ownership of it (and a
    print shop's profile). Runs inside the caller's transaction."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise _email_taken()
    _check_kind(kind)
    try:
        # A savepoint: two confirmations racing for one address meet the unique constraint.
        with transaction.atomic():
            user = User.objects.create(email=email, password=password_hash, name=name.strip())
    except IntegrityError as exc:
        raise _email_taken() from exc
    organization = Organization.objects.create(name=organization_name.strip(), kind=kind)
    Membership.objects.create(user=user, organization=organization, role=Membership.Role.OWNER)
    # A print shop gets its shop profile (printshops/receivers.py).
    organization_signed_up.send(sender=Organization, organization=organization)
    audit_record(actor=user, verb="user.signed_up", target=user, organization=organization.pk)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignUpStarted:
    """What the visitor is told: the same whether or not the address has an account.

    `browser_key` is for the session of the browser that signed up (the view keeps it there): it
    lets that browser confirm without the password. When the address has an account it matches
    nothing, but is kept all the same so that the two responses cannot be told apart."""

    email: str
    browser_key: str


def signup_start(
    *,
    email: str,
    password: str,
    name: str,
    organization_name: str,
    kind: str,
    site: str,
    now: datetime | None = None,
) -> SignUpStarted:
    """Record a sign-up and mail the address a link to finish it, or, if the address has an
    account, mail its owner that someone tried. `site` is the scheme and host the links point to.

    The mail goes out after the rows are committed, outside any transaction (STYLE.md rule 8a)."""
    email = email.strip().lower()
    _check_kind(kind)
    # Hashed whether or not it is kept: the slow hash would otherwise tell the two cases apart.
    password_hash = make_password(password)
    token = secrets.token_urlsafe(32)
    existing = _signup_record(
        email=email,
        password_hash=password_hash,
        name=name,
        organization_name=organization_name,
        kind=kind,
        token_hash=_token_hash(token),
        now=now or timezone.now(),
    )
    if existing is None:
        link = site + reverse("signup_confirm", args=[token])
        template, context = "signup_confirm", {"name": name.strip(), "link": link}
        browser_key = _token_hash(token)
    else:
        template = "signup_exists"
        context = {
            "name": existing.get_short_name(),
            "login_url": site + reverse("login"),
            "reset_url": site + reverse("password_reset"),
        }
        browser_key = _token_hash(secrets.token_urlsafe(32))
    try:
        send_mail(
            subject=render_to_string(f"registration/{template}_subject.txt", context).strip(),
            message=render_to_string(f"registration/{template}_email.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
        )
    except (smtplib.SMTPException, OSError) as exc:
        # The same refusal in both cases; the pending sign-up, if any, expires unused.
        raise DomainError(
            "PrintFair could not send the e-mail just now. Please try again in a few minutes.",
            code="mail_unavailable",
            status=503,
            retry_after=60,
        ) from exc
    return SignUpStarted(email=email, browser_key=browser_key)


@transaction.atomic
def _signup_record(
    *,
    email: str,
    password_hash: str,
    name: str,
    organization_name: str,
    kind: str,
    token_hash: str,
    now: datetime,
) -> User | None:
    """The rows of `signup_start`: a pending sign-up; or, when the address already has an
    account, only an audit row, and that account is returned."""
    PendingSignUp.objects.filter(created_at__lte=now - PendingSignUp.LIFETIME).delete()
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        audit_record(actor=None, verb="signup.attempted_for_existing_account", target=existing)
        return existing
    pending = PendingSignUp.objects.create(
        email=email,
        name=name.strip(),
        organization_name=organization_name.strip(),
        kind=kind,
        password_hash=password_hash,
        token_hash=token_hash,
        created_at=now,
    )
    audit_record(actor=None, verb="signup.requested", target=pending, email=email, kind=kind)
    return None


@transaction.atomic
def signup_confirm(
    *,
    token: str,
    browser_keys: Sequence[str],
    password: str | None,
    now: datetime | None = None,
) -> User:
    """Create the account of the pending sign-up the link's `token` names, and forget every
    pending sign-up of its address.

    The browser that signed up proves it with its `browser_keys` (kept in its session); any other
    browser must give the password chosen at sign-up. Refusals are DomainErrors whose `code` says
    which page to show: `signup_link_invalid` (unknown, used or expired link), `email_taken` (the
    address got an account meanwhile), `password_required` and `wrong_password`."""
    now = now or timezone.now()
    token_hash = _token_hash(token)
    pending = PendingSignUp.objects.select_for_update().filter(token_hash=token_hash).first()
    if pending is None or pending.is_expired(now=now):
        raise DomainError(
            "This sign-up link has expired or was already used.",
            code="signup_link_invalid",
            status=404,
        )
    if User.objects.filter(email__iexact=pending.email).exists():
        raise _email_taken()
    same_browser = any(
        isinstance(key, str) and hmac.compare_digest(key, token_hash) for key in browser_keys
    )
    if not same_browser:
        if not password:
            raise DomainError(
                "Enter the password you chose when you signed up.",
                code="password_required",
                status=403,
            )
        if not check_password(password, pending.password_hash):
            raise DomainError(
                "That is not the password chosen at sign-up.",
                code="wrong_password",
                fields={"password": ["That is not the password chosen at sign-up."]},
                status=403,
            )
    user = _account_create(
        email=pending.email,
        password_hash=pending.password_hash,
        name=pending.name,
        organization_name=pending.organization_name,
        kind=pending.kind,
    )
    PendingSignUp.objects.filter(email__iexact=pending.email).delete()
    return user


def require_customer(actor: User) -> Organization:
    """The acting user's organisation, which must be a customer."""
    organization = actor.organization
    if organization is None or not organization.is_customer:
        raise DomainError("Only customer organisations post jobs.", code="not_customer", status=403)
    return organization


def user_notifications_set(*, actor: User, enabled: bool) -> None:
    """The person's own choice of e-mail about its jobs' or orders' moments
    (marketplace/notifications.py)."""
    actor.email_notifications = enabled
    actor.save(update_fields=["email_notifications"])
    audit_record(actor=actor, verb="user.notifications_set", target=actor, enabled=enabled)
