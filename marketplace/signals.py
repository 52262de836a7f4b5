"""Where the apps built on marketplace join in, without marketplace importing them.

Dependencies run one way (docs/architecture.md): printshops imports marketplace, never the
reverse. What marketplace's pages and rules need from an app above it, it asks through these
signals; printshops connects its receivers in its AppConfig.ready() (printshops/receivers.py).
"""

from __future__ import annotations

from typing import Any, cast

from django.dispatch import Signal

#: An organisation signed up (kwargs: organization); a print shop gets its shop profile.
organization_signed_up = Signal()

#: Before a job is cancelled (kwargs: job): a receiver with a reason to refuse raises DomainError
#: (printshops: shops have bid on it).
job_cancel_check = Signal()

#: Before an order is accepted, or released once its claim window closed (kwargs: order): a
#: receiver with a reason to hold the payment back raises DomainError (printshops: the quality
#: gate is not met).
order_release_check = Signal()

#: An escrow event moved an order one step, or a reorg moved it back (kwargs: order, event: the
#: event's name, reverted: bool): receivers do what follows (printshops: licences, certificates).
order_moved = Signal()

#: What an app adds to a job's pages (kwargs: job, section: "order" for the order panel the job
#: page polls, "production" for the production section): each receiver returns a dict of
#: template context.
job_page_section = Signal()


def section_context(*, job: object, section: str) -> dict[str, Any]:
    """The context every receiver of `job_page_section` adds to `section` of `job`'s page."""
    context: dict[str, Any] = {}
    for _receiver, extra in job_page_section.send(sender=None, job=job, section=section):
        context.update(cast(dict[str, Any], extra))
    return context
