"""A shop's bids and what each auction came to for it: the one place that says when a bid is
pending, won, lost, an expired award, cancelled or failed (the API's `outcome`, the shop's bids
page and `printfair bids` all read it from here)."""

from __future__ import annotations

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When

from marketplace.models import Job, Order, Organization
from printshops.models import Bid

_MINE = Q(job__order__shop_id=F("organization_id"))

#: What the bid's auction came to for its shop, from its job and the job's order, in SQL.
BID_OUTCOME = Case(
    When(
        job__status__in=[Job.Status.CANCELLING, Job.Status.CANCELLED],
        then=Value(Bid.Outcome.CANCELLED),
    ),
    # Bidding or revealing: no order yet.
    When(job__status__in=[Job.Status.OPEN, Job.Status.REVEALING], then=Value(Bid.Outcome.PENDING)),
    When(
        job__order__isnull=True,
        then=Case(
            When(job__status=Job.Status.FAILED, then=Value(Bid.Outcome.FAILED)),
            default=Value(Bid.Outcome.PENDING),
        ),
    ),
    # Nobody was funded in time: the job failed, and the award of the shop it was last with
    # expired.
    When(Q(job__order__status=Order.Status.EXPIRED) & _MINE, then=Value(Bid.Outcome.AWARD_EXPIRED)),
    When(job__order__status=Order.Status.EXPIRED, then=Value(Bid.Outcome.FAILED)),
    # The award passed on to the runner-up after this shop's expired.
    When(job__order__expired_shop_id=F("organization_id"), then=Value(Bid.Outcome.AWARD_EXPIRED)),
    When(job__order__status=Order.Status.CANCELLED, then=Value(Bid.Outcome.CANCELLED)),
    When(_MINE, then=Value(Bid.Outcome.WON)),
    default=Value(Bid.Outcome.LOST),
    output_field=CharField(),
)

# What a bid is shown with: its job, the job's order and its two chain writes.
BID_RELATED = ("job", "job__order", "commit_tx", "reveal_tx")


def bids_for_shop(*, organization: Organization, outcome: str | None = None) -> QuerySet[Bid]:
    """The shop's bids, newest first, each annotated with its `outcome` (Bid.Outcome); only
    those with `outcome` when one is given."""
    bids = (
        Bid.objects.filter(organization=organization)
        .annotate(outcome=BID_OUTCOME)
        .select_related(*BID_RELATED)
    )
    return bids.filter(outcome=outcome) if outcome else bids


def bid_outcome_counts(*, organization: Organization) -> dict[str, int]:
    """How many of the shop's bids came to each outcome (every outcome, zero included)."""
    rows = (
        Bid.objects.filter(organization=organization)
        .annotate(outcome=BID_OUTCOME)
        .values("outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {outcome.value: 0 for outcome in Bid.Outcome}
    counts.update({row["outcome"]: row["n"] for row in rows})
    return counts
