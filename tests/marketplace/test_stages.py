"""Where a job stands on its way from draft to accepted (marketplace/stages.py): the step for
each status and order state, the parts' progress between funded and delivered, where a job that
left the way got to, and what happens next by when, told to the customer or to the shop."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from marketplace.models import Job, Order
from marketplace.stages import PATH, job_stage

S, OS = Job.Status, Order.Status
NOW = timezone.now()
SOON, PAST = NOW + timedelta(hours=2), NOW - timedelta(minutes=1)


def job(status: str, *, commit: datetime = SOON, published: bool = True) -> Job:
    return Job(
        status=status, quantity=2, commit_deadline=commit, reveal_deadline=SOON,
        published_at=NOW if published else None,
    )  # fmt: skip


def order(status: str, *, delivered: bool = False) -> Order:
    return Order(
        status=status, funding_deadline=SOON, delivery_deadline=SOON, claim_deadline=SOON,
        delivered_at=NOW if delivered else None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("the_job", "the_order", "parts", "current", "outcome", "deadline"),
    [
        (job(S.DRAFT, published=False), None, (0, 0), S.DRAFT, None, None),
        (job(S.OPEN), None, (0, 0), S.OPEN, None, "commit"),
        # bidding closed, the chain not followed yet: revealing already
        (job(S.OPEN, commit=PAST), None, (0, 0), S.REVEALING, None, "reveal"),
        (job(S.REVEALING, commit=PAST), None, (0, 0), S.REVEALING, None, "reveal"),
        (job(S.AWARDED), order(OS.AWARDED), (0, 0), S.AWARDED, None, "funding"),
        (job(S.FUNDED), order(OS.FUNDED), (0, 0), S.FUNDED, None, "delivery"),
        (job(S.FUNDED), order(OS.FUNDED), (1, 0), S.IN_PRODUCTION, None, "delivery"),
        (job(S.FUNDED), order(OS.FUNDED), (2, 1), S.IN_PRODUCTION, None, "delivery"),
        (job(S.FUNDED), order(OS.FUNDED), (2, 2), S.SHIPPED, None, "delivery"),
        (job(S.DELIVERED), order(OS.DELIVERED, delivered=True), (2, 2), S.DELIVERED, None, "claim"),
        (job(S.ACCEPTED), order(OS.RELEASED, delivered=True), (2, 2), S.ACCEPTED, None, None),
        # left the way: where it got to, and why
        (job(S.FAILED, commit=PAST), None, (0, 0), None, S.FAILED, None),
        (job(S.FAILED), order(OS.EXPIRED), (0, 0), None, S.FAILED, None),
        (job(S.CANCELLED, published=False), None, (0, 0), None, S.CANCELLED, None),
        (job(S.DISPUTED), order(OS.DISPUTED, delivered=True), (2, 2), None, S.DISPUTED, None),
        (job(S.REFUNDED), order(OS.REFUNDED), (0, 0), None, S.REFUNDED, None),
    ],
)
def test_each_state_is_a_step_of_the_way(
    the_job: Job, the_order: Order | None, parts: tuple[int, int], current: str | None,
    outcome: str | None, deadline: str | None,
) -> None:  # fmt: skip
    stage = job_stage(the_job, the_order, parts_started=parts[0], parts_shipped=parts[1])
    assert [step.status for step in stage.steps] == list(PATH)
    assert [step.status for step in stage.steps if step.state == "current"] == (
        [current] if current else []
    )
    assert stage.outcome == outcome and stage.next
    expected = {
        None: None, "commit": the_job.commit_deadline, "reveal": the_job.reveal_deadline,
        "funding": getattr(the_order, "funding_deadline", None),
        "delivery": getattr(the_order, "delivery_deadline", None),
        "claim": getattr(the_order, "claim_deadline", None),
    }[deadline]  # fmt: skip
    assert stage.deadline == expected
    # the steps before are done, those after to do (a job that left the way: done up to where)
    states = [step.state for step in stage.steps]
    first_todo = states.index("todo") if "todo" in states else len(states)
    assert set(states[:first_todo]) <= {"done", "current"} and set(states[first_todo:]) <= {"todo"}


def test_where_a_job_left_the_way() -> None:
    reached = {
        S.FAILED: job(S.FAILED, commit=PAST),
        S.CANCELLED: job(S.CANCELLED, published=False),
    }
    done = {status: [s.status for s in job_stage(j, None).steps if s.state == "done"]
            for status, j in reached.items()}  # fmt: skip
    assert done == {S.FAILED: list(PATH[:3]), S.CANCELLED: [S.DRAFT]}
    disputed = job_stage(job(S.DISPUTED), order(OS.DISPUTED, delivered=True))
    assert [s.status for s in disputed.steps if s.state == "done"] == list(PATH[:8])
    assert disputed.outcome_label == "Disputed"


def test_the_shop_is_told_what_it_does_next() -> None:
    funded = job_stage(job(S.FUNDED), order(OS.FUNDED), for_shop=True)
    assert funded.next.startswith("Take a print ticket per part")
    customer = job_stage(job(S.DELIVERED), order(OS.DELIVERED, delivered=True))
    shop = job_stage(job(S.DELIVERED), order(OS.DELIVERED, delivered=True), for_shop=True)
    assert customer.next.startswith("Accept the parts") and "pays you" in shop.next
