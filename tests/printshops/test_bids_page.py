"""A shop's bids and what each auction came to for it (printshops/selectors/bids.py): the
outcome every end of an auction gives each bidder, and the shop's bids page (its own bids only,
by outcome, with what to do next); tests/browser/test_shop_bids.py reads it in a browser."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Job, Order, Organization, User
from printshops.selectors import bid_outcome_counts, bids_for_shop
from tests import factories

S = Job.Status
O = Order.Status  # noqa: E741 - the order's states, as the table below reads them

# An auction's end -> what it came to for the shop that won it, or the one it was awarded to
# (A), and for the other bidder (B): (job status, order status or None, the order's shop,
# the shop whose award expired before it passed on, A's outcome, B's outcome).
ENDS: list[tuple[str, str | None, str | None, str | None, str, str]] = [
    (S.OPEN, None, None, None, "pending", "pending"),
    (S.REVEALING, None, None, None, "pending", "pending"),
    # Finalized but the award not indexed yet: still pending, not lost.
    (S.AWARDED, None, None, None, "pending", "pending"),
    (S.FAILED, None, None, None, "failed", "failed"),
    (S.CANCELLED, None, None, None, "cancelled", "cancelled"),
    (S.AWARDED, O.AWARDED, "A", None, "won", "lost"),
    (S.FUNDED, O.FUNDED, "A", None, "won", "lost"),
    (S.ACCEPTED, O.RELEASED, "A", None, "won", "lost"),
    (S.REFUNDED, O.REFUNDED, "A", None, "won", "lost"),
    # Nobody funded in time: A's award expired and the job failed for B.
    (S.FAILED, O.EXPIRED, "A", None, "award_expired", "failed"),
    # A's award expired and passed to the runner-up, B.
    (S.AWARDED, O.AWARDED, "B", "A", "award_expired", "won"),
    (S.CANCELLED, O.CANCELLED, "A", None, "cancelled", "cancelled"),
]


@pytest.fixture
def shops(winning_shop: User, losing_shop: User) -> dict[str, Organization]:
    assert winning_shop.organization is not None and losing_shop.organization is not None
    return {"A": winning_shop.organization, "B": losing_shop.organization}


def test_every_end_of_an_auction_is_an_outcome_for_each_bidder(
    customer: User, shops: dict[str, Organization]
) -> None:
    # given: a job for each way an auction can end, each bid on by both shops
    jobs = [factories.auction_end(customer, shops, end, f"End {n}") for n, end in enumerate(ENDS)]
    for name, column in (("A", 4), ("B", 5)):
        # when: each shop's bids are read
        outcomes = {b.job_id: b.outcome for b in bids_for_shop(organization=shops[name])}
        # then: each came to what the table says
        expected = {job.pk: end[column] for job, end in zip(jobs, ENDS, strict=True)}
        assert outcomes == expected, name
        # ... and the counts and the filter agree with it
        counts = bid_outcome_counts(organization=shops[name])
        for outcome, n in counts.items():
            assert n == list(expected.values()).count(outcome)
            assert bids_for_shop(organization=shops[name], outcome=outcome).count() == n


def test_a_shops_bids_page_lists_its_own_bids_with_what_comes_next(
    customer: User, winning_shop: User, losing_shop: User, shops: dict[str, Organization],
    login: Any,
) -> None:  # fmt: skip
    # given: a job the winning shop won, one it committed to and must reveal now, one open
    now = timezone.now()
    won = factories.auction_end(customer, shops, (S.FUNDED, O.FUNDED, "A", None), "Won bracket")
    revealing = factories.JobFactory.create(
        created_by=customer, status=S.REVEALING, title="Reveal me",
        commit_deadline=now - timedelta(minutes=1), reveal_deadline=now + timedelta(hours=2),
    )  # fmt: skip
    factories.bid(revealing, shops["A"])
    open_job = factories.JobFactory.create(created_by=customer, status=S.OPEN, title="Open one")
    factories.bid(open_job, shops["A"])
    shop = login(winning_shop)

    # when: the winning shop opens its bids page
    page = shop.get(reverse("shop_bids"))

    # then: each of its bids is there with its outcome and its next step
    assert page.status_code == 200
    html = page.content.decode()
    assert sorted(rows(html)) == ["pending", "pending", "won"]
    assert reverse("shop_order_detail", args=[won.pk]) in html
    assert f"printfair reveal {revealing.pk}" in html and "Reveal by" in html
    assert "left</span>" in html  # the countdowns
    assert "A higher version replaces this bid" in html
    assert "400.00 USD · 10 days" in html and "Sealed" in html  # revealed, and not yet
    # ... filtered by outcome, with the counts of each
    pending = shop.get(reverse("shop_bids"), {"outcome": "pending"}).content.decode()
    assert "Reveal me" in pending and "Won bracket" not in pending
    assert 'data-outcome="won">Won <span class="badge text-bg-light">1</span>' in pending
    # ... an unknown outcome shows them all
    assert "Won bracket" in shop.get(reverse("shop_bids"), {"outcome": "x"}).content.decode()

    # and: the losing shop sees its own lost bid, never the winner's
    theirs = login(losing_shop).get(reverse("shop_bids")).content.decode()
    assert rows(theirs) == ["lost"] and "Another shop's bid ranked first" in theirs
    assert "Reveal me" not in theirs and "Open one" not in theirs
    assert reverse("shop_order_detail", args=[won.pk]) not in theirs


def rows(html: str) -> list[str]:
    """The outcomes of the bids a page lists, in order."""
    return re.findall(r'<tr data-job="\d+" data-outcome="(\w+)"', html)
