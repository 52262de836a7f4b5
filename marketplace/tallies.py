"""Shops' orders counted for their performance (printshops/performance.py): read from each shop's
ShopOrderTally, which Order.save keeps as orders move, so a job page that ranks five bidders
costs the same at a thousand orders a shop as at ten. Only what the clock changes is counted
live: funded orders past their delivery deadline, read from an index of funded orders alone.

`order_counts_query` is the same count in SQL over every order, which rebuilds the tallies (the
migration that made them, `manage.py rebuild_order_tallies` after rows were written around
Order.save) and holds them to account (`rebuild_order_tallies --check`, and the tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import Count, DecimalField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace.models import Order, ShopOrderTally

#: A shop's order counts: ShopOrderTally.COUNTS, the funded orders now past their delivery
#: deadline (`overdue`), and the missed deliveries (overdue or refunded).
FIGURES = (*ShopOrderTally.COUNTS, "overdue", "missed")


def order_counts_query(orders: QuerySet[Any]) -> QuerySet[Any]:
    """ShopOrderTally's counts per shop (`shop_id`) over `orders`, in one query: the rules of
    `ShopOrderTally.counts_of`, in SQL. Takes the model's manager as a migration has it, too."""
    resolved = Q(status="resolved")
    counts: QuerySet[Any] = (
        orders.alias(
            shop_share=Coalesce(
                F("price") - F("customer_amount"),
                F("dispute__resolution_shop_amount"),
                output_field=DecimalField(max_digits=40, decimal_places=0),
            ),
        )
        .values("shop_id")
        .annotate(
            delivered_on_time=Count("pk", filter=Q(delivered_at__lte=F("delivery_deadline"))),
            delivered_late=Count("pk", filter=Q(delivered_at__gt=F("delivery_deadline"))),
            refunded=Count("pk", filter=Q(status="refunded")),
            disputes_open=Count("pk", filter=Q(status="disputed")),
            disputes_resolved=Count("pk", filter=resolved),
            disputes_shop_favour=Count("pk", filter=resolved & Q(shop_share=F("price"))),
            disputes_refunded=Count("pk", filter=resolved & Q(shop_share=0)),
            orders_completed=Count("pk", filter=Q(status__in=("released", "resolved"))),
        )
        .order_by()
    )
    return counts


def shop_order_tallies_rebuild(
    organization_ids: Iterable[int] | None = None,
    *,
    order_model: type[models.Model] = Order,
    tally_model: type[models.Model] = ShopOrderTally,
) -> int:
    """Counts the shops' orders again from the orders themselves (every shop with a tally or an
    order, or those given) into their tallies; the number of shops counted. Takes the models as
    a migration has them, too.

    Safe beside orders that move meanwhile: the tallies are locked before the orders are
    counted, so an order saved before the count is in it, and one saved after adds its change
    to the count (its tally update waits for this transaction, then updates what it wrote)."""
    orders = order_model._default_manager.all()
    tallies = tally_model._default_manager.all()
    if organization_ids is not None:
        ids = list(organization_ids)
        orders, tallies = orders.filter(shop_id__in=ids), tallies.filter(organization_id__in=ids)
    zeros = dict.fromkeys(ShopOrderTally.COUNTS, 0)
    with transaction.atomic():
        held = {tally.pk: tally for tally in tallies.select_for_update()}
        counted = {row.pop("shop_id"): row for row in order_counts_query(orders)}
        for shop_id, tally in held.items():
            for name, value in counted.get(shop_id, zeros).items():
                setattr(tally, name, value)
        tally_model._default_manager.bulk_update(held.values(), ShopOrderTally.COUNTS)
        tally_model._default_manager.bulk_create(
            [
                tally_model(organization_id=shop_id, **counts)
                for shop_id, counts in counted.items()
                if shop_id not in held
            ]
        )
    return len(held.keys() | counted.keys())


def shop_order_figures(organization_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Each shop's FIGURES in one query, whatever their history: the tallies, with the funded
    orders past their deadline beside them (shops with no orders get zeros)."""
    ids = sorted(set(organization_ids))
    figures = {shop_id: dict.fromkeys(FIGURES, 0) for shop_id in ids}
    overdue = (
        Order.objects.filter(
            shop_id=OuterRef("organization_id"),
            status=Order.Status.FUNDED,
            delivery_deadline__lt=timezone.now(),
        )
        .values("shop_id")
        # COUNT(*): the index of funded orders answers alone, without reading the orders.
        .annotate(count=Count("*"))
        .values("count")
    )
    tallies = ShopOrderTally.objects.filter(organization_id__in=ids).annotate(
        overdue=Coalesce(Subquery(overdue), 0)
    )
    for tally in tallies:
        counts = figures[tally.organization_id]
        counts.update({name: getattr(tally, name) for name in ShopOrderTally.COUNTS})
        counts["overdue"] = tally.overdue
        counts["missed"] = tally.overdue + tally.refunded
    return figures


def shop_order_tallies_drift() -> dict[int, dict[str, tuple[int, int]]]:
    """The shops whose tally differs from their orders counted again: for each, the counts that
    differ, as (tallied, counted)."""
    counted = {row.pop("shop_id"): row for row in order_counts_query(Order.objects.all())}
    tallied = {
        tally.organization_id: {name: getattr(tally, name) for name in ShopOrderTally.COUNTS}
        for tally in ShopOrderTally.objects.all()
    }
    drift = {}
    for shop_id in counted.keys() | tallied.keys():
        have = tallied.get(shop_id, dict.fromkeys(ShopOrderTally.COUNTS, 0))
        want = counted.get(shop_id, dict.fromkeys(ShopOrderTally.COUNTS, 0))
        if differing := {
            n: (have[n], want[n]) for n in ShopOrderTally.COUNTS if have[n] != want[n]
        }:
            drift[shop_id] = differing
    return drift
