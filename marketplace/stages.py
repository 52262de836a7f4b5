"""Where a job stands on its way from draft to accepted, in the job statuses' own names (the API's
`status` values and labels), what happens next and by when: the stage stepper of the customer's
job page and the shop's order page.

The job's status follows the chain; "in production" and "shipped" are read from the parts' records
(the caller says how many parts have any record and how many were shipped), since the escrow knows
only funded and delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from marketplace.models import Job, Order

S = Job.Status
#: The way, in order.
PATH = (
    S.DRAFT, S.OPEN, S.REVEALING, S.AWARDED, S.FUNDED, S.IN_PRODUCTION, S.SHIPPED, S.DELIVERED,
    S.ACCEPTED,
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    status: str
    label: str
    #: "done", "current" or "todo".
    state: str


@dataclass(frozen=True)
class JobStage:
    steps: list[Step]
    #: The job's own status when it left the way (failed, cancelled, disputed, …), else None.
    outcome: str | None
    outcome_label: str
    #: What happens next, in a sentence, and the deadline it waits for (None: none).
    next: str
    deadline: datetime | None

    @property
    def status(self) -> str:
        """Where the job stands in one word: the current step, or the status it left the way
        with (the same names as the job's `status` in the API and the CLI)."""
        current = [step.status for step in self.steps if step.state == "current"]
        return str(self.outcome or (current[0] if current else PATH[-1]))


def job_stage(
    job: Job,
    order: Order | None,
    *,
    parts_started: int = 0,
    parts_shipped: int = 0,
    for_shop: bool = False,
) -> JobStage:
    """Where `job` stands, given its order and how many of its parts have production records
    (`parts_started`) and were shipped (`parts_shipped`); what happens next is told to the
    customer, or to the shop that won the job (`for_shop`)."""
    status = S(job.status)
    on_path = status if status in PATH else _reached(job, order)
    if on_path == S.FUNDED and parts_started:
        on_path = S.SHIPPED if parts_shipped >= job.quantity else S.IN_PRODUCTION
    if on_path == S.OPEN and job.commit_deadline <= timezone.now():
        on_path = S.REVEALING  # (the status follows the chain a moment later)
    index = PATH.index(on_path)
    left = status not in PATH
    steps = [
        Step(code, label, "done" if i < index or (i == index and left) else
             "current" if i == index else "todo")
        for i, (code, label) in enumerate((c, S(c).label) for c in PATH)
    ]  # fmt: skip
    next_text, deadline = _next(job, order, on_path if not left else status, for_shop)
    return JobStage(steps, status if left else None, S(status).label if left else "", next_text,
                    deadline)  # fmt: skip


def _reached(job: Job, order: Order | None) -> str:
    """The last step of the way a job that left it (failed, cancelled, disputed, resolved,
    refunded) had reached."""
    if order is None:
        if not job.published_at:
            return S.DRAFT
        return S.REVEALING if job.commit_deadline <= timezone.now() else S.OPEN
    if order.delivered_at is not None:
        return S.DELIVERED
    if order.status in (Order.Status.AWARDED, Order.Status.EXPIRED, Order.Status.CANCELLED):
        return S.AWARDED
    return S.FUNDED


def _next(job: Job, order: Order | None, where: str, for_shop: bool) -> tuple[str, datetime | None]:
    """The next thing to happen from `where` (a step of the way, or where the job left it)."""
    texts: dict[str, tuple[str, datetime | None]] = {
        S.DRAFT: ("Attach a design file and publish: verified shops then bid until the bidding "
                  "deadline.", None),
        S.OPEN: ("Shops are placing sealed bids; bidding closes at", job.commit_deadline),
        S.REVEALING: ("Shops are revealing their prices; the lowest valid bid wins when the "
                      "reveal window closes at", job.reveal_deadline),
        S.FAILED: ("No valid bid won this job. Post it again to take new bids.", None),
        S.CANCELLING: ("The job is being cancelled on chain.", None),
        S.CANCELLED: ("The job was cancelled.", None),
        S.ACCEPTED: ("Done: the shop has been paid; each part's certificate is below.", None),
        S.REFUNDED: ("The escrow was refunded to the customer.", None),
        S.DISPUTED: ("An arbiter is resolving the dispute.", None),
        S.RESOLVED: ("The dispute was resolved; the escrow was settled as the arbiter decided.",
                     None),
    }  # fmt: skip
    if order is not None:
        texts.update({
            S.AWARDED: ("The award waits for the escrow to be funded by", order.funding_deadline),
            S.FUNDED: ("The shop prints the parts; delivery is due by", order.delivery_deadline),
            S.IN_PRODUCTION: ("The shop is printing and measuring the parts; delivery is due by",
                              order.delivery_deadline),
            S.SHIPPED: ("Every part is shipped; the shop records the delivery, due by",
                        order.delivery_deadline),
            S.DELIVERED: ("Accept the parts or dispute them; the escrow pays the shop by itself "
                          "when the claim window closes at", order.claim_deadline),
        })  # fmt: skip
    if order is not None and for_shop:
        texts.update({
            S.AWARDED: ("You won. The customer funds the escrow by", order.funding_deadline),
            S.FUNDED: ("Take a print ticket per part and report its production; delivery is "
                       "due by", order.delivery_deadline),
            S.IN_PRODUCTION: ("Report each part's production and measurements; delivery is due "
                              "by", order.delivery_deadline),
            S.SHIPPED: ("Record the delivery (printfair deliver), due by",
                        order.delivery_deadline),
            S.DELIVERED: ("The customer accepts or disputes; otherwise the escrow pays you when "
                          "the claim window closes at", order.claim_deadline),
            S.ACCEPTED: ("Done: the escrow paid you; withdraw it with printfair withdraw.", None),
        })  # fmt: skip
    return texts.get(where, ("", None))
