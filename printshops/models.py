from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from marketplace.models import Organization
from printfair.keys import HpkeKem

if TYPE_CHECKING:
    from ledger.services.verification import AnchorState


class PrintShopProfile(models.Model):
    """What a print shop can make. Operators verify shops before they may see open jobs."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="shop_profile"
    )
    description = models.TextField(blank=True)
    website = models.URLField(blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 country code")
    city = models.CharField(max_length=100, blank=True)
    processes = models.JSONField(default=list, blank=True)
    materials = models.JSONField(default=list, blank=True)
    certifications = models.JSONField(default=list, blank=True)
    build_x_mm = models.PositiveIntegerField("build volume X (mm)", default=0)
    build_y_mm = models.PositiveIntegerField("build volume Y (mm)", default=0)
    build_z_mm = models.PositiveIntegerField("build volume Z (mm)", default=0)
    # Public pages (the profile, the verification pages of the shop's parts) name no one unless
    # they chose it (DESIGN section 6). Customers the shop bids for see its name either way.
    name_public = models.BooleanField(
        "show our name publicly",
        default=False,
        help_text="On your public profile and on the public verification pages of the parts you "
        "make. Without it, they say “Print shop #<id>”. Customers you bid for see your name "
        "either way.",
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The shop's own keys (printfair/keys.py): it signs bids with the Ethereum key, and designs
    # are released to the HPKE key. The platform never holds the private halves.
    eth_address = models.CharField("Ethereum address", max_length=42, blank=True)
    hpke_kem = models.CharField(
        "HPKE key type", max_length=20, blank=True, choices=[(k.value, k.value) for k in HpkeKem]
    )
    hpke_public_key = models.BinaryField(null=True, blank=True)
    keys_registered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["eth_address"],
                condition=~models.Q(eth_address=""),
                name="shop_eth_address_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Profile of {self.organization}"

    @property
    def public_name(self) -> str:
        """What public pages call the shop: its name only if it chose to show it."""
        return self.organization.name if self.name_public else f"Print shop #{self.organization_id}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class KeyChallenge(models.Model):
    """A one-time value a shop signs to prove its keys; good for a few minutes, once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    challenge = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"challenge for {self.organization}"


class Bid(models.Model):
    """A shop's sealed bid on a job: its commitment, signed by the shop's own key (EIP-712,
    printfair/eip712.py), and relayed to the AuctionHouse. One live bid per shop per job: a new
    version replaces it until the bidding deadline. The price stays secret until revealed."""

    class Status(models.TextChoices):
        COMMITTED = "committed", "Committed"
        REVEALED = "revealed", "Revealed"

    class Outcome(models.TextChoices):
        """What the bid's auction came to for its shop (printshops/selectors/bids.py reads it
        from the job and its order; a bid just committed or revealed is pending)."""

        PENDING = "pending", "Pending"
        WON = "won", "Won"
        LOST = "lost", "Lost"
        AWARD_EXPIRED = "award_expired", "Award expired"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "No award"

    job = models.ForeignKey(
        "marketplace.Job", on_delete=models.CASCADE, related_name="bids", db_index=False
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bids")
    shop_address = models.CharField(max_length=42)
    commitment = models.CharField(max_length=66)
    version = models.PositiveBigIntegerField()
    signature = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMMITTED)
    # Nothing looks bids up by their relays (related_name="+"), and a new version replaces the
    # commit's: an index on either would be written by every bid and read by no query.
    commit_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Known only once revealed (in settlement-token base units).
    price = models.DecimalField(max_digits=40, decimal_places=0, null=True, blank=True)
    lead_time_days = models.PositiveIntegerField(null=True, blank=True)
    reveal_tx = models.ForeignKey(
        "ledger.ChainTx",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    # The final BidRevealed event: what the customer's ranking shows (whoever sent the reveal).
    reveal_event = models.ForeignKey(
        "ledger.ChainEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "organization"], name="bid_one_per_shop_per_job")
        ]

    def __str__(self) -> str:
        return f"bid of {self.organization} on job {self.job_id} (v{self.version})"


class ApiKey(models.Model):
    """A shop's API key. The secret is shown once and stored only as its SHA-256: keys are 256-bit
    random, so a fast hash is as strong as a slow one here and keeps every request cheap."""

    class Scope(models.TextChoices):
        JOBS_READ = "jobs:read", "Read open jobs"
        KEYS_WRITE = "keys:write", "Register the shop's signing and release keys"
        BIDS_WRITE = "bids:write", "Submit and reveal sealed bids"
        ORDERS_WRITE = "orders:write", "Record deliveries and withdraw payouts"
        DESIGNS_READ = "designs:read", "Download the designs of won jobs"
        PRODUCTION_WRITE = "production:write", "Take print tickets"
        MACHINES_WRITE = "machines:write", "Register machines, pair their keys, send their events"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key")
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (pf_{self.prefix}_…)"

    def is_active(self, now: datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class Licence(models.Model):
    """The winning shop's right to print a job's designs a fixed number of times (quantity plus
    spares; DESIGN.md section 3 step 8). Opened when the escrow is funded, issued on
    DesignRegistry through the outbox, closed when the order is accepted, resolved or refunded."""

    order = models.OneToOneField(
        "marketplace.Order", on_delete=models.CASCADE, related_name="licence"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="licences"
    )
    prints_allowed = models.PositiveIntegerField()
    prints_taken = models.PositiveIntegerField(default=0)
    issue_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=40, blank=True)
    close_tx = models.ForeignKey(
        "ledger.ChainTx", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(prints_taken__lte=models.F("prints_allowed")),
                name="licence_prints_within_allowance",
            )
        ]

    def __str__(self) -> str:
        return f"licence of {self.organization} for job {self.order.job_id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class DesignRelease(models.Model):
    """A design file's data key wrapped with HPKE to the winning shop's registered public key,
    bound to job, shop and file (printfair/hpke.py). PrintFair cannot take back what a shop has
    decrypted; revoking refuses further downloads."""

    licence = models.ForeignKey(
        Licence, on_delete=models.CASCADE, related_name="releases", db_index=False
    )
    design_file = models.ForeignKey(
        "marketplace.DesignFile", on_delete=models.CASCADE, related_name="releases"
    )
    hpke_kem = models.CharField(max_length=20, choices=[(k.value, k.value) for k in HpkeKem])
    wrapped_key = models.BinaryField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["design_file__original_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["licence", "design_file"], name="release_one_per_file_per_licence"
            )
        ]

    def __str__(self) -> str:
        return f"release of {self.design_file_id} to {self.licence.organization}"


class PrintTicket(models.Model):
    """One print under a licence: which machine prints which part serial. Numbered from 1 by an
    atomic counter on the licence, and anchored as a record."""

    licence = models.ForeignKey(
        Licence, on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    number = models.PositiveIntegerField()
    machine = models.CharField(max_length=100)
    part_serial = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["licence", "number"]
        constraints = [
            models.UniqueConstraint(fields=["licence", "number"], name="ticket_number_unique")
        ]

    def __str__(self) -> str:
        return f"print {self.number} of {self.licence} ({self.part_serial})"


class EvidenceFile(models.Model):
    """A photo, measurement file or report a shop attaches to a part's records. Stored as given
    (it is the shop's evidence for the customer, not the customer's design); its SHA-256 goes
    into every record that cites it, so the anchored record pins the file."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, related_name="evidence_files"
    )
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    blob = models.CharField(max_length=255, unique=True, help_text="Storage name")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]}…)"


class PartRecord(models.Model):
    """One entry of a part's history: a production event (printfair/production.py EVENT_KINDS)
    or a quality measurement. Numbered per part from 1 (``seq``), so a missing entry shows as a
    gap; anchored as a record (printshops/records.py). ``characteristic`` and ``passed`` repeat
    a quality record's data for the quality gate's queries; both are in the hashed record."""

    class Kind(models.TextChoices):
        PRINT_STARTED = "print_started", "Print started"
        PRINT_FINISHED = "print_finished", "Print finished"
        POST_PROCESSING = "post_processing", "Post-processing"
        INSPECTION = "inspection", "Inspection"
        PACKED = "packed", "Packed"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        QUALITY = "quality", "Quality measurement"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, related_name="part_records", db_index=False
    )
    part_serial = models.CharField(max_length=100)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict)
    characteristic = models.CharField(max_length=100, blank=True)
    passed = models.BooleanField(null=True)
    evidence = models.ManyToManyField(EvidenceFile, blank=True, related_name="records")
    #: For a print's start or end that the machine signed (printshops.services.attestation): the
    #: signed machine event, as anchored; null for what the shop reported.
    attestation = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    #: Not a column: the anchoring state the service that stored this record left it in
    #: ("waiting", with its hash), so that the answer to that request need not read it back;
    #: None for a record read from the database.
    queued_anchor: AnchorState | None = None
    #: Not a column either: the evidence files that service found the record cites, in order,
    #: for the same answer; None for a record read from the database (see `cited_evidence`).
    queued_evidence: list[EvidenceFile] | None = None

    class Meta:
        ordering = ["order", "part_serial", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "part_serial", "seq"], name="partrecord_seq_unique"
            )
        ]
        indexes = [models.Index(fields=["order", "kind", "characteristic"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.seq} of part {self.part_serial}"

    @property
    def is_quality(self) -> bool:
        return self.kind == self.Kind.QUALITY

    @property
    def cited_evidence(self) -> list[EvidenceFile]:
        """The evidence files the record cites: as the service that stored it found them, or
        read (a prefetch of `evidence` serves this)."""
        if self.queued_evidence is not None:
            return self.queued_evidence
        return list(self.evidence.all())

    @property
    def reported_by(self) -> str:
        """Who stated this record, in the words the timeline and the certificate use."""
        if self.attestation:
            return (
                f"machine-attested: signed by machine {self.attestation['machine_id']}'s key "
                f"{self.attestation['signer']}"
            )
        return "reported by the shop"


class Certificate(models.Model):
    """A certificate of conformance for one accepted part (DESIGN.md section 3 step 11): the
    part's records as they were at acceptance, listed by hash, anchored as a record itself."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(
        "marketplace.Order", on_delete=models.PROTECT, related_name="certificates", db_index=False
    )
    part_serial = models.CharField(max_length=100)
    # [{"id", "record_hash"}] of the part's records at issue, in sequence.
    records = models.JSONField(default=list)
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "part_serial"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "part_serial"], name="certificate_one_per_part"
            )
        ]

    def __str__(self) -> str:
        return f"certificate for part {self.part_serial} of {self.order}"
