"""Orders made by awards, their disputes, and payouts from the AuctionHouse."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

from marketplace.models.accounts import Organization
from marketplace.models.jobs import Job


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
        EXPIRED = "expired", "Award expired unfunded"
        CANCELLED = "cancelled", "Cancelled before funding"

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
    # When the award must be funded by (AuctionFinalized) and, once funded, when the shop must
    # deliver by: the funding time plus its lead time (EscrowFunded), as the contract keeps them.
    funding_deadline = models.DateTimeField(null=True, blank=True)
    delivery_deadline = models.DateTimeField(null=True, blank=True)
    # The shop whose award expired unfunded before the award passed to this order's shop.
    expired_shop = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
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
        # A shop's orders page, newest first: a page reads its own rows.
        indexes = [models.Index(fields=["shop", "-created_at", "-id"], name="order_shop_newest")]

    def __str__(self) -> str:
        return f"order for {self.job} with {self.shop}"

    @property
    def is_delivered_late(self) -> bool:
        """The delivery was recorded after the delivery deadline."""
        return (
            self.delivered_at is not None
            and self.delivery_deadline is not None
            and self.delivered_at > self.delivery_deadline
        )

    def refund_open(self, *, now: datetime) -> bool:
        """The customer may claim its money back: funded, and the delivery deadline has passed
        with no delivery recorded; or delivered late, and the claim window is still open (the
        customer may refuse a late delivery, or accept it)."""
        if self.status == self.Status.FUNDED:
            return self.delivery_deadline is not None and now > self.delivery_deadline
        return self.is_delivered_late and self.claim_window_open(now=now)

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
