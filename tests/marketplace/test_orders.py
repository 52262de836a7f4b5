"""The order's rules that the job page and the escrow services share (marketplace/models.py):
when a refund can be claimed and when the claim window is open. One rule, one place: the page
offers a button exactly when the service would take the call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketplace.models import Job, Order

FUNDED_AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEAD_TIME_DAYS = 7
DELIVERY_DEADLINE = FUNDED_AT + timedelta(days=LEAD_TIME_DAYS)
CLAIM_DEADLINE = DELIVERY_DEADLINE + timedelta(days=14)
SECOND = timedelta(seconds=1)


def order(
    status: str, claim_deadline: datetime | None = None, delivered_at: datetime | None = None
) -> Order:
    # As EscrowFunded set it: the funding time plus the lead time.
    funded = status not in (Order.Status.AWARDED, Order.Status.EXPIRED)
    return Order(
        job=Job(),
        status=status,
        lead_time_days=LEAD_TIME_DAYS,
        delivery_deadline=DELIVERY_DEADLINE if funded else None,
        claim_deadline=claim_deadline,
        delivered_at=delivered_at,
    )


@pytest.mark.parametrize(
    ("status", "now", "open_"),
    [
        (Order.Status.FUNDED, DELIVERY_DEADLINE - SECOND, False),
        # At the deadline itself the shop is still in time (the contract agrees: strictly after).
        (Order.Status.FUNDED, DELIVERY_DEADLINE, False),
        (Order.Status.FUNDED, DELIVERY_DEADLINE + SECOND, True),
        (Order.Status.AWARDED, DELIVERY_DEADLINE + SECOND, False),
        (Order.Status.DELIVERED, DELIVERY_DEADLINE + SECOND, False),
        (Order.Status.REFUNDED, DELIVERY_DEADLINE + SECOND, False),
    ],
)
def test_a_refund_can_be_claimed_only_once_a_funded_orders_delivery_deadline_has_passed(
    status: str, now: datetime, open_: bool
) -> None:
    assert order(status).refund_open(now=now) is open_


@pytest.mark.parametrize(
    ("status", "claim_deadline", "now", "open_"),
    [
        (Order.Status.DELIVERED, CLAIM_DEADLINE, CLAIM_DEADLINE - SECOND, True),
        # The window closes at its deadline: from then on the escrow may be released by anyone.
        (Order.Status.DELIVERED, CLAIM_DEADLINE, CLAIM_DEADLINE, False),
        (Order.Status.DELIVERED, CLAIM_DEADLINE, CLAIM_DEADLINE + SECOND, False),
        # A delivered order with no claim deadline recorded stays open.
        (Order.Status.DELIVERED, None, CLAIM_DEADLINE + SECOND, True),
        (Order.Status.FUNDED, CLAIM_DEADLINE, CLAIM_DEADLINE - SECOND, False),
        (Order.Status.DISPUTED, CLAIM_DEADLINE, CLAIM_DEADLINE - SECOND, False),
    ],
)
def test_a_delivery_can_be_disputed_only_while_its_claim_window_is_open(
    status: str, claim_deadline: datetime | None, now: datetime, open_: bool
) -> None:
    assert order(status, claim_deadline).claim_window_open(now=now) is open_


def test_an_order_not_funded_yet_has_no_delivery_deadline_and_no_refund() -> None:
    # The lead time counts from the funding: before it, nothing is late.
    awarded = order(Order.Status.AWARDED)
    assert awarded.delivery_deadline is None
    assert not awarded.refund_open(now=DELIVERY_DEADLINE + timedelta(days=365))
    assert not awarded.is_delivered_late


@pytest.mark.parametrize(
    ("delivered_at", "now", "open_"),
    [
        # Delivered late: refusable for a refund while its claim window is open.
        (DELIVERY_DEADLINE + SECOND, DELIVERY_DEADLINE + 2 * SECOND, True),
        (DELIVERY_DEADLINE + SECOND, DELIVERY_DEADLINE + timedelta(days=14), True),
        (DELIVERY_DEADLINE + SECOND, DELIVERY_DEADLINE + SECOND + timedelta(days=14), False),
        # Delivered in time (at the deadline itself too): accept or dispute, no refund.
        (DELIVERY_DEADLINE, DELIVERY_DEADLINE + SECOND, False),
        (DELIVERY_DEADLINE - SECOND, DELIVERY_DEADLINE + timedelta(days=1), False),
    ],
)
def test_a_late_delivery_can_be_refused_for_a_refund_within_its_claim_window(
    delivered_at: datetime, now: datetime, open_: bool
) -> None:
    delivered = order(
        Order.Status.DELIVERED,
        claim_deadline=delivered_at + timedelta(days=14),
        delivered_at=delivered_at,
    )
    assert delivered.is_delivered_late is (delivered_at > DELIVERY_DEADLINE)
    assert delivered.refund_open(now=now) is open_
