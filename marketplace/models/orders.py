"""Orders made by awards, their disputes, and payouts from the AuctionHouse."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Upper

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
    shop = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
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
        indexes = [
            # A shop's orders page, newest first: a page reads its own rows.
            models.Index(fields=["shop", "-created_at", "-id"], name="order_shop_newest"),
            # A shop's funded orders past their delivery deadline (its performance, which counts
            # them as missed while the clock runs): only the orders in production.
            models.Index(
                fields=["shop", "delivery_deadline"],
                condition=Q(status="funded"),
                name="order_shop_funded_deadline",
            ),
        ]

    def __str__(self) -> str:
        return f"order for {self.job} with {self.shop}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saves the order and moves its shop's tally (ShopOrderTally) with it, atomically."""
        using = kwargs.get("using") or "default"
        with transaction.atomic(using=using):
            before = None if self._state.adding else self._tallied_in_database(using)
            super().save(*args, **kwargs)
            after = self._tallied_here(before, kwargs.get("update_fields"), using)
            ShopOrderTally.move(before, after, using=using)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        using = kwargs.get("using") or "default"
        with transaction.atomic(using=using):
            before = self._tallied_in_database(using)
            deleted = super().delete(*args, **kwargs)
            ShopOrderTally.move(before, None, using=using)
            return deleted

    def _tallied_in_database(self, using: str) -> dict[str, Any] | None:
        """What the tally counted of this order: its stored row's tallied fields, locked until
        the transaction ends (the write that follows replaces what was read)."""
        row: dict[str, Any] | None = (
            Order.objects.using(using)
            .select_for_update(of=("self",))
            .filter(pk=self.pk)
            .values(*TALLIED, dispute_shop_amount=models.F("dispute__resolution_shop_amount"))
            .first()
        )
        return row

    def _tallied_here(
        self, before: dict[str, Any] | None, update_fields: Any, using: str
    ) -> dict[str, Any]:
        """What the tally counts of this order as just saved (only `update_fields` if given)."""
        after = {name: getattr(self, name) for name in TALLIED}
        if update_fields is not None and before is not None:
            saved = {*update_fields, *(f"{name}_id" for name in update_fields)}
            after = {name: after[name] if name in saved else before[name] for name in TALLIED}
        after["dispute_shop_amount"] = None
        if after["status"] == self.Status.RESOLVED and after["customer_amount"] is None:
            after["dispute_shop_amount"] = (
                Dispute.objects.using(using)
                .filter(order_id=self.pk)
                .values_list("resolution_shop_amount", flat=True)
                .first()
            )
        return after

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saves the dispute; an order resolved without the customer's amount (an older row) is
        tallied by the arbiter's decision, so its shop's tally moves with it."""
        using = kwargs.get("using") or "default"
        with transaction.atomic(using=using):
            decided = None if self._state.adding else self._decided_in_database(using)
            super().save(*args, **kwargs)
            self._retally(decided, using)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        using = kwargs.get("using") or "default"
        with transaction.atomic(using=using):
            decided = self._decided_in_database(using)
            deleted = super().delete(*args, **kwargs)
            self._retally(decided, using)
            return deleted

    def _decided_in_database(self, using: str) -> Decimal | None:
        decided: Decimal | None = (
            Dispute.objects.using(using)
            .filter(pk=self.pk)
            .values_list("resolution_shop_amount", flat=True)
            .first()
        )
        return decided

    def _retally(self, decided: Decimal | None, using: str) -> None:
        """The order's tally moves from the decision `decided` to the one stored now."""
        order = self.order._tallied_in_database(using)
        if order is not None and order["dispute_shop_amount"] != decided:
            ShopOrderTally.move({**order, "dispute_shop_amount": decided}, order, using=using)


#: The fields of an order its shop's tally counts (and the dispute's resolution, for an order
#: resolved before DisputeResolved carried the customer's amount).
TALLIED = ("shop_id", "status", "delivered_at", "delivery_deadline", "price", "customer_amount")


class ShopOrderTally(models.Model):
    """A shop's orders, counted for its performance (printshops/performance.py) as they move.
    Order.save and Order.delete keep it in the same transaction (and Dispute's, for an older
    resolved order), so a page reads one row per shop, whatever the shop's history. What the
    clock changes (funded orders past their delivery deadline) is not counted here but read live
    (marketplace/tallies.py).

    Rows written around Order.save (bulk_create, a QuerySet.update of the tallied fields, SQL)
    leave the tally behind: count them again afterwards (`manage.py rebuild_order_tallies`)."""

    organization = models.OneToOneField(
        Organization, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    # Delivered by the deadline, or after it (a delivery recorded on a funded order).
    delivered_on_time = models.IntegerField(default=0)
    delivered_late = models.IntegerField(default=0)
    # Refunded: the customer claimed the money back after the deadline passed.
    refunded = models.IntegerField(default=0)
    # Disputes still open, and resolved: in the shop's favour (all of the price to the shop),
    # refunded (none of it), or partially (the rest).
    disputes_open = models.IntegerField(default=0)
    disputes_resolved = models.IntegerField(default=0)
    disputes_shop_favour = models.IntegerField(default=0)
    disputes_refunded = models.IntegerField(default=0)
    # Released or resolved: the escrow is settled.
    orders_completed = models.IntegerField(default=0)

    COUNTS = (
        "delivered_on_time",
        "delivered_late",
        "refunded",
        "disputes_open",
        "disputes_resolved",
        "disputes_shop_favour",
        "disputes_refunded",
        "orders_completed",
    )

    def __str__(self) -> str:
        return f"orders of {self.organization_id}"

    @staticmethod
    def counts_of(order: Mapping[str, Any]) -> dict[str, int]:
        """What one order adds to its shop's tally, from its TALLIED fields and the dispute's
        resolution (`dispute_shop_amount`). The same rules as `tallies.order_counts_query`,
        which counts in SQL (tests/marketplace/test_tallies.py holds the two together)."""
        status = order["status"]
        delivered, deadline = order["delivered_at"], order["delivery_deadline"]
        resolved = status == Order.Status.RESOLVED
        # What the resolution gave the shop (before the fee): the price less the customer's
        # amount, or the arbiter's decision while an older row lacks the customer's amount.
        share: Decimal | None = (
            order["price"] - order["customer_amount"]
            if order["customer_amount"] is not None
            else order["dispute_shop_amount"]
        )
        on_record = delivered is not None and deadline is not None
        counts = {
            "delivered_on_time": on_record and delivered <= deadline,
            "delivered_late": on_record and delivered > deadline,
            "refunded": status == Order.Status.REFUNDED,
            "disputes_open": status == Order.Status.DISPUTED,
            "disputes_resolved": resolved,
            "disputes_shop_favour": resolved and share is not None and share == order["price"],
            "disputes_refunded": resolved and share is not None and share == 0,
            "orders_completed": status in (Order.Status.RELEASED, Order.Status.RESOLVED),
        }
        return {name: int(value) for name, value in counts.items()}

    @classmethod
    def move(
        cls, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *, using: str
    ) -> None:
        """An order went from `before` to `after` (None: not there): moves its shops' counts."""
        changes: dict[int, dict[str, int]] = {}
        for order, sign in ((before, -1), (after, 1)):
            if order is None:
                continue
            shop = changes.setdefault(order["shop_id"], dict.fromkeys(cls.COUNTS, 0))
            for name, value in cls.counts_of(order).items():
                shop[name] += sign * value
        for shop_id, change in changes.items():
            # Every shop with an order has a tally, if only of zeros (the page reads its live
            # figures beside it).
            tally, _ = cls.objects.using(using).get_or_create(organization_id=shop_id)
            if any(change.values()):
                cls.objects.using(using).filter(pk=tally.pk).update(
                    **{name: models.F(name) + value for name, value in change.items() if value}
                )


class Payout(models.Model):
    """A withdrawal from the AuctionHouse (the Withdrawn event) to a shop, a customer or the
    treasury."""

    account = models.CharField(max_length=42)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    amount = models.DecimalField(max_digits=40, decimal_places=0, help_text="Base units")
    event = models.OneToOneField("ledger.ChainEvent", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # What `account__iexact` compares: addresses come in either case.
        indexes = [models.Index(Upper("account"), name="payout_account_upper")]

    def __str__(self) -> str:
        return f"{self.amount} to {self.account}"
