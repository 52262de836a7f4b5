"""Customers' jobs and their design files."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from marketplace.catalog import Certification, Finish, Material, Process
from marketplace.models.accounts import Organization


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
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"

    class PricingRule(models.TextChoices):
        FIRST_PRICE = "first_price", "First price (winner is paid its own bid)"
        SECOND_PRICE = "second_price", "Second price (winner is paid the runner-up's bid)"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="jobs", db_index=False
    )
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
    # Every part's print must be machine-attested from start to end: signed by the shop's
    # registered machine for the released design (printshops.quality.attested_print).
    requires_machine_attestation = models.BooleanField(
        default=False,
        help_text="Every part's start and end of print must be signed by the shop's registered "
        "machine, printing the released design",
    )
    # The date the customer needs the parts by (what shops bid against). Not the order's
    # delivery deadline, which the contract sets from the winning bid's lead time
    # (Order.delivery_deadline).
    needed_by = models.DateField("needed by")
    reserve_price = models.DecimalField(
        "reserve price (USD)",
        max_digits=18,
        decimal_places=6,
        help_text="The most you will pay for the whole job; bids above it lose.",
    )
    commit_deadline = models.DateTimeField(help_text="Sealed bids are accepted until then")
    reveal_deadline = models.DateTimeField(help_text="Bidders reveal their prices until then")
    funding_window_hours = models.PositiveIntegerField(
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(30 * 24)],
        help_text="Hours the customer has to fund the escrow once the auction is awarded",
    )
    award_passes_to_runner_up = models.BooleanField(
        default=False,
        help_text="If the award is not funded in time, it goes once to the runner-up "
        "(else the job fails)",
    )
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
    # The deadlines the AuctionHouse enforces, as the auction was created with them (to the
    # second, CHAIN_RELAY_MARGIN after the API's): calls that depend on one wait for block time
    # to pass it. Set on publishing.
    chain_commit_deadline = models.DateTimeField(null=True, blank=True)
    chain_reveal_deadline = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The customer's cancelAuction, while the job is cancelling.
    cancel_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "commit_deadline"]),
            # A customer's list, newest first: a page reads its own rows, not every job of the
            # customer sorted.
            models.Index(fields=["organization", "-created_at", "-id"], name="job_org_newest"),
        ]
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

    @property
    def max_lead_time_days(self) -> int:
        """The longest lead time a bid may reveal (the AuctionHouse refuses any other): whole
        days from the end of the funding window (after the reveal deadline the chain enforces)
        to the end of the day the parts are needed by, in UTC; at least one. The lead time
        counts from the funding, so a bid within it delivers in time however late the
        customer funds."""
        reveal = self.chain_reveal_deadline or self.reveal_deadline
        funded_by = reveal + timedelta(hours=self.funding_window_hours)
        end = datetime.combine(self.needed_by + timedelta(days=1), time.min, tzinfo=UTC)
        return max(1, int((end - funded_by).total_seconds() // 86_400))

    @property
    def envelope_mm(self) -> tuple[float, float, float] | None:
        if self.envelope_a_mm is None or self.envelope_b_mm is None or self.envelope_c_mm is None:
            return None
        return (self.envelope_a_mm, self.envelope_b_mm, self.envelope_c_mm)

    def certification_labels(self) -> list[str]:
        labels = dict(Certification.choices)
        return [labels.get(code, code) for code in self.required_certifications]


class DesignFile(models.Model):
    """An encrypted design file. Only ciphertext is stored (printfair/envelope.py); the data key
    is kept wrapped under a versioned key-encryption key from settings."""

    class Kind(models.TextChoices):
        STL_ASCII = "stl_ascii", "STL (ASCII)"
        STL_BINARY = "stl_binary", "STL (binary)"
        THREE_MF = "3mf", "3MF"
        STEP = "step", "STEP"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="files", db_index=False)
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
        # The indexer's DesignRegistered handler finds the files of a registered hash.
        indexes = [models.Index(fields=["sha256"], name="designfile_sha256")]
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
