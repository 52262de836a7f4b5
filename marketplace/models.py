from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar, Literal

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from marketplace.catalog import Certification, Finish, Material, Process


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

    email = models.EmailField(db_index=True)
    name = models.CharField(max_length=150)
    organization_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Organization.Kind.choices)
    password_hash = models.CharField(max_length=128)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} (pending since {self.created_at:%Y-%m-%d %H:%M})"

    def is_expired(self, *, now: datetime) -> bool:
        return now >= self.created_at + self.LIFETIME


class Job(models.Model):
    """A print job posted by a customer organisation (DESIGN.md section 3)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open for bids"
        REVEALING = "revealing", "Revealing bids"
        AWARDED = "awarded", "Awarded"
        FUNDED = "funded", "Funded"
        IN_PRODUCTION = "in_production", "In production"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        ACCEPTED = "accepted", "Accepted"
        DISPUTED = "disputed", "Disputed"
        RESOLVED = "resolved", "Resolved"
        REFUNDED = "refunded", "Refunded"
        FAILED = "failed", "Failed (no valid bid)"
        CANCELLED = "cancelled", "Cancelled"

    class PricingRule(models.TextChoices):
        FIRST_PRICE = "first_price", "First price (winner is paid its own bid)"
        SECOND_PRICE = "second_price", "Second price (winner is paid the runner-up's bid)"

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    process = models.CharField(max_length=20, choices=Process.choices)
    material = models.CharField(max_length=30, choices=Material.choices)
    quantity = models.PositiveIntegerField()
    spares = models.PositiveIntegerField(default=0, help_text="Extra prints the licence allows")
    tolerance_mm = models.DecimalField(
        "general tolerance (± mm)", max_digits=6, decimal_places=3, default=Decimal("0.200")
    )
    finish = models.CharField(max_length=20, choices=Finish.choices, default=Finish.AS_PRINTED)
    required_certifications = models.JSONField(default=list, blank=True)
    # The quality gate: characteristics every part needs a passing, anchored and final quality
    # record for before the order can be accepted (printshops/services/production.py).
    required_characteristics = models.JSONField(default=list, blank=True)
    delivery_deadline = models.DateField()
    reserve_price = models.DecimalField(
        "reserve price (USD)",
        max_digits=18,
        decimal_places=6,
        help_text="The most you will pay for the whole job; bids above it lose.",
    )
    commit_deadline = models.DateTimeField(help_text="Sealed bids are accepted until then")
    reveal_deadline = models.DateTimeField(help_text="Bidders reveal their prices until then")
    pricing_rule = models.CharField(
        max_length=20, choices=PricingRule.choices, default=PricingRule.FIRST_PRICE
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    # The largest part's bounding box, sorted largest edge first, so that "fits a build volume"
    # is three comparisons whatever the orientation. Kept up to date by the file services.
    envelope_a_mm = models.FloatField(null=True, blank=True)
    envelope_b_mm = models.FloatField(null=True, blank=True)
    envelope_c_mm = models.FloatField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # The job's auction on the AuctionHouse contract, created through the outbox on publishing.
    auction_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "commit_deadline"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="job_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(reserve_price__gt=0), name="job_reserve_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(reveal_deadline__gt=models.F("commit_deadline")),
                name="job_reveal_after_commit",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_cancellable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.OPEN)

    @property
    def status_label(self) -> str:
        """The status as people should read it. The stored status of a published job stays
        `open` until the award is final on chain; past its bidding deadline it is revealing,
        past its reveal deadline it waits for the award."""
        if self.status == self.Status.OPEN:
            now = timezone.now()
            if now >= self.reveal_deadline:
                return "Awarding"
            if now >= self.commit_deadline:
                return str(self.Status.REVEALING.label)
        return str(self.get_status_display())

    def chain_deadline(self, which: Literal["commit", "reveal"]) -> datetime | None:
        """The deadline the AuctionHouse enforces (from the createAuction call), or None before
        the auction is queued. Calls that depend on it wait for block time to pass it."""
        if self.auction_tx is None:
            return None
        timestamp = self.auction_tx.args[2 if which == "commit" else 3]
        return datetime.fromtimestamp(int(timestamp), tz=UTC)

    @property
    def envelope_mm(self) -> tuple[float, float, float] | None:
        if self.envelope_a_mm is None or self.envelope_b_mm is None or self.envelope_c_mm is None:
            return None
        return (self.envelope_a_mm, self.envelope_b_mm, self.envelope_c_mm)

    def certification_labels(self) -> list[str]:
        labels = dict(Certification.choices)
        return [labels.get(code, code) for code in self.required_certifications]


class Order(models.Model):
    """A job awarded by its auction: made from the AuctionFinalized event once it is final
    (printshops/handlers.py), and moved through its money states only by final escrow events
    (marketplace/handlers.py), so every state shown is traceable to the chain."""

    class Status(models.TextChoices):
        AWARDED = "awarded", "Awarded, waiting for funding"
        FUNDED = "funded", "Funded, in production"
        DELIVERED = "delivered", "Delivered, claim window open"
        RELEASED = "released", "Accepted, escrow released"
        DISPUTED = "disputed", "Disputed"
        RESOLVED = "resolved", "Dispute resolved"
        REFUNDED = "refunded", "Refunded"

    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="order")
    shop = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="orders")
    shop_address = models.CharField(max_length=42)
    price = models.DecimalField(
        max_digits=40, decimal_places=0, help_text="Settlement-token base units"
    )
    lead_time_days = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWARDED)
    award_event = models.ForeignKey("ledger.ChainEvent", on_delete=models.PROTECT, related_name="+")
    # The latest escrow event that moved the order (the state above is its consequence).
    last_event = models.ForeignKey(
        "ledger.ChainEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    claim_deadline = models.DateTimeField(null=True, blank=True)
    # How the escrow was settled, in base units (from EscrowReleased / DisputeResolved /
    # EscrowRefunded).
    shop_amount = models.DecimalField(max_digits=40, decimal_places=0, null=True, blank=True)
    fee = models.DecimalField(max_digits=40, decimal_places=0, null=True, blank=True)
    customer_amount = models.DecimalField(max_digits=40, decimal_places=0, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"order for {self.job} with {self.shop}"

    @property
    def delivery_deadline(self) -> datetime:
        """As the contract computes it: the reveal deadline plus the winner's lead time."""
        return self.job.reveal_deadline + timedelta(days=self.lead_time_days)

    def refund_open(self, *, now: datetime) -> bool:
        """The customer may claim its money back: funded, and the delivery deadline has passed
        with no delivery recorded."""
        return self.status == self.Status.FUNDED and now > self.delivery_deadline

    def claim_window_open(self, *, now: datetime) -> bool:
        """The customer may still dispute the delivery: delivered, and its claim window (which
        the DeliveryRecorded event sets) has not closed."""
        return self.status == self.Status.DELIVERED and (
            self.claim_deadline is None or now < self.claim_deadline
        )


class Dispute(models.Model):
    """A customer's dispute of a delivered order, with its evidence. The evidence's canonical
    hash goes on chain with the dispute; the arbiter's decision is made in the admin."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="dispute")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    statement = models.TextField()
    # [{"name", "blob", "sha256", "size_bytes"}] of the files kept in the storage.
    evidence_files = models.JSONField(default=list, blank=True)
    evidence_hash = models.CharField(max_length=66)
    dispute_tx = models.ForeignKey(
        "ledger.ChainTx", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    resolution_shop_amount = models.DecimalField(
        max_digits=40, decimal_places=0, null=True, blank=True
    )
    resolve_tx = models.ForeignKey(
        "ledger.ChainTx", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"dispute of {self.order}"


class Payout(models.Model):
    """A withdrawal from the AuctionHouse (the Withdrawn event) to a shop, a customer or the
    treasury."""

    account = models.CharField(max_length=42, db_index=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    amount = models.DecimalField(max_digits=40, decimal_places=0, help_text="Base units")
    event = models.OneToOneField("ledger.ChainEvent", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.amount} to {self.account}"


class DesignFile(models.Model):
    """An encrypted design file. Only ciphertext is stored (printfair/envelope.py); the data key
    is kept wrapped under a versioned key-encryption key from settings."""

    class Kind(models.TextChoices):
        STL_ASCII = "stl_ascii", "STL (ASCII)"
        STL_BINARY = "stl_binary", "STL (binary)"
        THREE_MF = "3mf", "3MF"
        STEP = "step", "STEP"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files")
    original_name = models.CharField(max_length=255)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    size_bytes = models.BigIntegerField(help_text="Plaintext size")
    sha256 = models.CharField(max_length=64, help_text="SHA-256 of the plaintext, hex")
    blob = models.CharField(max_length=255, unique=True, help_text="Storage name of the ciphertext")
    wrapped_key = models.BinaryField()
    kek_version = models.PositiveIntegerField()
    triangle_count = models.PositiveBigIntegerField(null=True, blank=True)
    size_x_mm = models.FloatField(null=True, blank=True)
    size_y_mm = models.FloatField(null=True, blank=True)
    size_z_mm = models.FloatField(null=True, blank=True)
    # Null when the mesh does not bound a solid (watertight and consistently_wound say which
    # check failed), or is not a mesh (STEP).
    volume_cm3 = models.FloatField(null=True, blank=True)
    # printfair.geometry's closure checks; null when not checked (STEP, STLs above
    # PRINTFAIR_MAX_STL_CHECKED_TRIANGLES, files uploaded before the checks existed).
    watertight = models.BooleanField(
        null=True, blank=True, help_text="Every edge is shared by exactly two facets"
    )
    consistently_wound = models.BooleanField(
        null=True,
        blank=True,
        help_text="Every edge shared by two facets is traversed oppositely by them",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Proof of existence: the plaintext hash registered on DesignRegistry through the outbox.
    registration = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "sha256"], name="designfile_unique_per_job"),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def size_mm(self) -> tuple[float, float, float] | None:
        if self.size_x_mm is None or self.size_y_mm is None or self.size_z_mm is None:
            return None
        return (self.size_x_mm, self.size_y_mm, self.size_z_mm)

    @property
    def is_closed(self) -> bool | None:
        """Whether the mesh bounds a solid, so that its volume means something: False if a
        check failed, None if it was not checked or the file is not a mesh."""
        if self.watertight is False or self.consistently_wound is False:
            return False
        if self.watertight is None or self.consistently_wound is None:
            return None
        return True


class AuditEvent(models.Model):
    """Who did what, written in the same transaction as the change (STYLE.md rule 2)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.verb} {self.target_type}:{self.target_id}"
