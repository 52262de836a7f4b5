"""Shops' order tallies (marketplace/tallies.py): kept by Order.save as orders move, they always
say what counting every order again in SQL says; what the clock changes (funded orders past
their deadline) is read live; rows written around save() are found and counted again."""

from __future__ import annotations

import importlib
import io
import random
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from ledger.models import ChainEvent
from marketplace import tallies
from marketplace.models import Dispute, Order, Organization, ShopOrderTally, User
from marketplace.tallies import shop_order_figures, shop_order_tallies_drift
from tests import factories

pytestmark = pytest.mark.django_db
PRICE = Decimal(400_000_000)


@pytest.fixture
def shops() -> list[Organization]:
    users = [factories.print_shop(f"shop{n}@tally.example", f"Shop {n}") for n in range(3)]
    return [user.organization for user in users if user.organization is not None]


@pytest.fixture
def award() -> ChainEvent:
    return ChainEvent.objects.create(
        chain_id=31337, block_number=1, block_hash="0x" + "1" * 64, log_index=0,
        tx_hash="0x" + "2" * 64, contract="AuctionHouse", address="0x" + "a" * 40,
        name="AuctionFinalized", args={}, applied=True,
    )  # fmt: skip


def order(customer: User, shop: Organization, award: ChainEvent, **fields: object) -> Order:
    job = factories.JobFactory.create(created_by=customer, status="awarded")
    defaults: dict[str, object] = {
        "shop_address": "0x" + "b" * 40, "price": PRICE, "lead_time_days": 7,
        "award_event": award,
    }  # fmt: skip
    return Order.objects.create(job=job, shop=shop, **{**defaults, **fields})


def randomly_moved(rng: random.Random, order: Order, shops: list[Organization]) -> list[str]:
    """Changes some of the order's tallied fields at random; the fields changed."""
    now = timezone.now()
    choices: dict[str, list[Any]] = {
        "status": list(Order.Status.values),
        "delivery_deadline": [None, now - timedelta(days=2), now + timedelta(days=2)],
        "delivered_at": [None, now - timedelta(days=3), now - timedelta(days=1), now],
        "customer_amount": [None, Decimal(0), PRICE / 2, PRICE],
        "shop": shops,
    }
    changed = rng.sample(sorted(choices), rng.randint(1, 3))
    for name in changed:
        setattr(order, name, rng.choice(choices[name]))
    return changed


def test_a_random_walk_of_orders_keeps_every_tally_equal_to_counting_the_orders_again(
    customer: User, shops: list[Organization], award: ChainEvent
) -> None:
    rng = random.Random(20261206)
    orders: list[Order] = []
    counted: set[str] = set()  # the counts that were ever above zero
    for step in range(240):
        action = rng.choice(("create", "move", "move", "move", "partial", "dispute", "delete"))
        if action == "create" or not orders:
            orders.append(order(customer, rng.choice(shops), award))
            randomly_moved(rng, orders[-1], shops)
            orders[-1].save()
        elif action == "move":
            target = rng.choice(orders)
            randomly_moved(rng, target, shops)
            target.save()
        elif action == "partial":
            # save(update_fields=...) writes some fields only: the tally follows what is stored
            target = rng.choice(orders)
            changed = randomly_moved(rng, target, shops)
            target.save(update_fields=changed[:1])
            target.refresh_from_db()
        elif action == "dispute":
            # the arbiter's decision counts for an order resolved without the customer's amount
            target = rng.choice(orders)
            dispute = Dispute.objects.filter(order=target).first() or Dispute(
                order=target, opened_by=customer, statement="late", evidence_hash="0x" + "c" * 64
            )
            dispute.resolution_shop_amount = rng.choice([None, Decimal(0), PRICE / 2, PRICE])
            dispute.save()
        else:
            target = orders.pop(rng.randrange(len(orders)))
            for dispute in Dispute.objects.filter(order=target):
                dispute.delete()
            target.delete()
        assert shop_order_tallies_drift() == {}, f"step {step}: {action}"
        for tally in ShopOrderTally.objects.all():
            counted |= {name for name in ShopOrderTally.COUNTS if getattr(tally, name)}
    assert counted == set(ShopOrderTally.COUNTS)  # the walk went everywhere the tally counts


def test_funded_orders_count_as_missed_once_their_deadline_passes_without_a_save(
    customer: User, shops: list[Organization], award: ChainEvent
) -> None:
    shop = shops[0]
    soon, past = timezone.now() + timedelta(seconds=1), timezone.now() - timedelta(days=1)
    due = order(customer, shop, award, status="funded", delivery_deadline=soon)
    order(customer, shop, award, status="refunded", delivery_deadline=past)
    order(customer, shops[1], award, status="funded", delivery_deadline=past)
    assert shop_order_figures([shop.pk])[shop.pk]["missed"] == 1  # the refund
    Order.objects.filter(pk=due.pk).update(delivery_deadline=timezone.now() - timedelta(seconds=1))
    figures = shop_order_figures([shop.pk, shops[1].pk, shops[2].pk])
    assert (figures[shop.pk]["missed"], figures[shop.pk]["overdue"]) == (2, 1)
    assert figures[shops[1].pk]["missed"] == 1
    assert figures[shops[2].pk] == dict.fromkeys(figures[shops[2].pk], 0)  # no orders at all


def test_rows_written_around_save_are_reported_and_counted_again(
    customer: User, shops: list[Organization], award: ChainEvent
) -> None:
    placed = order(customer, shops[0], award, status="funded", delivery_deadline=timezone.now())
    # a bulk write (an import, SQL by hand) bypasses Order.save and leaves the tally behind
    Order.objects.filter(pk=placed.pk).update(status="released")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("rebuild_order_tallies", "--check", stdout=out, stderr=err)
    assert exited.value.code == 1
    assert f"shop {shops[0].pk}: orders_completed 0 (orders say 1)" in err.getvalue()
    call_command("rebuild_order_tallies", stdout=out)
    assert "Counted the orders of 1 shop." in out.getvalue()
    call_command("rebuild_order_tallies", "--check", stdout=out)
    assert "Every shop's order tally matches its orders." in out.getvalue()
    assert ShopOrderTally.objects.get(organization=shops[0]).orders_completed == 1


def test_the_migration_counts_the_orders_that_were_there_before_the_tallies(
    customer: User, shops: list[Organization], award: ChainEvent
) -> None:
    order(customer, shops[0], award, status="resolved", customer_amount=PRICE)
    now = timezone.now()
    order(customer, shops[1], award, status="delivered", delivered_at=now, delivery_deadline=now)
    ShopOrderTally.objects.all().delete()
    migration = importlib.import_module("marketplace.migrations.0016_shop_order_tallies")
    migration.count_the_orders(apps, None)
    assert shop_order_tallies_drift() == {}
    assert ShopOrderTally.objects.get(organization=shops[0]).disputes_refunded == 1
    assert ShopOrderTally.objects.get(organization=shops[1]).delivered_on_time == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: PostgreSQL's")
def test_an_order_that_moves_while_the_tallies_are_counted_again_is_not_lost(
    customer: User, shops: list[Organization], award: ChainEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = order(customer, shops[0], award, status="funded", delivery_deadline=timezone.now())
    count_as_before = tallies.order_counts_query
    mover: list[threading.Thread] = []

    def count_while_the_order_moves(orders: Any) -> Any:
        # the indexer releases the order between the rebuild's lock and its count
        def release() -> None:
            moved = Order.objects.get(pk=placed.pk)
            moved.status = "released"
            moved.save()
            connections.close_all()

        mover.append(threading.Thread(target=release))
        mover[0].start()
        mover[0].join(timeout=1)
        assert mover[0].is_alive(), "the move waits for the tally the rebuild holds"
        return count_as_before(orders)

    monkeypatch.setattr(tallies, "order_counts_query", count_while_the_order_moves)
    tallies.shop_order_tallies_rebuild()
    monkeypatch.undo()
    mover[0].join(timeout=30)
    assert ShopOrderTally.objects.get(organization=shops[0]).orders_completed == 1
    assert shop_order_tallies_drift() == {}
