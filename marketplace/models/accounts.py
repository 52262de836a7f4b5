"""People and organisations: users, organisations and their members, sign-ups waiting for
confirmation, custodial wallets, and the audit trail."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower, Upper
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person. The email address is the login."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150)
    # E-mail at the moments a job needs this person (marketplace/notifications.py).
    email_notifications = models.BooleanField(
        "e-mail me when my jobs or orders need me", default=True
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[assignment, misc]

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email

    @property
    def organization(self) -> Organization | None:
        membership = getattr(self, "membership", None)
        return membership.organization if membership else None


def new_owner_ref() -> str:
    """A fresh opaque owner reference for DesignRegistry (bytes32, 0x-prefixed hex)."""
    return "0x" + secrets.token_hex(32)


class Organization(models.Model):
    """A customer company or a print shop. Every user belongs to exactly one."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        PRINT_SHOP = "print_shop", "Print shop"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Who holds a design on chain (DesignRegistry): random, so that nobody can tell from the
    # chain which organisation, or which organisation id, registered a file. Organisations made
    # before it was random keep keccak256("printfair/organization/<id>"), which their
    # registrations already carry.
    owner_ref = models.CharField(max_length=66, unique=True, default=new_owner_ref, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_customer(self) -> bool:
        return self.kind == self.Kind.CUSTOMER

    @property
    def is_print_shop(self) -> bool:
        return self.kind == self.Kind.PRINT_SHOP


class CustomerWallet(models.Model):
    """The address a customer organisation pays escrow from. Custodial by default: the platform
    made the key and keeps it wrapped under the key-encryption key (printfair/envelope.py), never
    in plain text. A customer may register its own address instead; then there is no key here."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="wallet"
    )
    address = models.CharField(max_length=42, unique=True)
    wrapped_key = models.BinaryField(null=True, blank=True)
    kek_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.address} ({self.organization})"

    @property
    def is_custodial(self) -> bool:
        return self.wrapped_key is not None


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class PendingSignUp(models.Model):
    """A sign-up waiting for its owner to follow the link mailed to the address
    (marketplace/services/accounts.py). No account exists until then, so nobody can claim an
    address they do not read. The password is stored only as its hash, the link's token only
    as its SHA-256."""

    LIFETIME = timedelta(hours=24)

    email = models.EmailField()
    name = models.CharField(max_length=150)
    organization_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Organization.Kind.choices)
    password_hash = models.CharField(max_length=128)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # What `email__iexact` compares (an index on the column itself would not serve it).
        indexes = [models.Index(Upper("email"), name="pendingsignup_email_upper")]

    def __str__(self) -> str:
        return f"{self.email} (pending since {self.created_at:%Y-%m-%d %H:%M})"

    def is_expired(self, *, now: datetime) -> bool:
        return now >= self.created_at + self.LIFETIME


class AuditEvent(models.Model):
    """Who did what, written in the same transaction as the change (STYLE.md rule 2)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # An index, not db_index: see ChainTx.
        indexes = [models.Index(fields=["verb"], name="auditevent_verb")]

    def __str__(self) -> str:
        return f"{self.verb} {self.target_type}:{self.target_id}"


class Notice(models.Model):
    """An e-mail to a person about a moment of a job (marketplace/notifications.py): one per
    person and moment, ever, whatever reorganises the chain or runs the reminders again. Written
    in the transaction of what caused it and mailed by beat's sender after it commits (an outbox:
    a mail server that is down delays the e-mail, and never loses it)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=200, help_text="The moment, e.g. awarded:42")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    mailed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the sender tries again; empty once mailed or given up",
    )
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="notice_once")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="notice_to_mail",
                condition=models.Q(next_attempt_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} to {self.user}"
