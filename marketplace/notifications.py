"""E-mail at the moments a job needs someone, each sent once per person (a Notice row) and only
after what caused it is committed, to the members of the organisation concerned who want it
(User.email_notifications). Through Django's e-mail backend: the console under `make run`.

`notify` writes the Notice in the transaction of what caused it; `notices_send` (beat, every few
seconds) mails those due and marks them mailed. A mail server that refuses is tried again later,
further apart each time (RETRY_FIRST doubling to RETRY_MOST), MAX_ATTEMPTS times in all; a crash
between the mail and its mark sends it twice (once CLAIM has passed), never not at all.

The moments: for the customer, the bids revealed and the award (or no valid bid), the funding
deadline drawing near, the delivery and the claim window closing; for the shops that bid, won or
lost; for the winner, its award funded or expired unfunded, the claim window closing and the
escrow released. The chain's handlers call `notify`; `deadline_reminders` (beat) the rest."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from marketplace.models import Job, Notice, Order, Organization, User
from marketplace.money import format_amount

logger = logging.getLogger(__name__)

#: How long before a deadline its reminder goes out.
REMIND_BEFORE = timedelta(hours=24)
#: A refused e-mail is tried again after RETRY_FIRST, then twice as long each time up to
#: RETRY_MOST, MAX_ATTEMPTS times in all (about a day and a half).
RETRY_FIRST, RETRY_MOST, MAX_ATTEMPTS = timedelta(seconds=30), timedelta(hours=4), 16
#: Notices mailed per pass of the sender (beat runs the next one seconds later).
BATCH = 50
#: How long a sender holds a notice it is mailing (EMAIL_TIMEOUT bounds a mail to seconds).
CLAIM = timedelta(minutes=10)


def notify(*, organization: Organization, key: str, subject: str, body: str, path: str) -> int:
    """Mail `subject` and `body` (with a link to `path`) to each member of `organization` who
    wants e-mail and has not had the moment `key` yet; how many will be mailed once the current
    transaction commits."""
    users = User.objects.filter(
        membership__organization=organization, is_active=True, email_notifications=True
    )
    link = settings.PRINTFAIR_SITE_URL.rstrip("/") + path
    now = timezone.now()
    sent = 0
    for user in users:
        message = f"Hello {user.name or user.email},\n\n{body}\n\n{link}\n\n— PrintFair\n"
        message += "(You get these e-mails for your jobs and orders; turn them off on your "
        message += "organisation page.)\n"
        try:
            with transaction.atomic():
                Notice.objects.create(
                    user=user, key=key, subject=subject[:200], body=message, next_attempt_at=now
                )
        except IntegrityError:
            continue  # had it already
        sent += 1
    return sent


def notices_send() -> int:
    """Mail the notices that are due (committed, and not refused too recently), BATCH at most,
    to people who still want e-mail; how many were mailed. A sender first claims a notice by
    moving its next attempt CLAIM ahead, on the condition that nobody moved it since it was read
    (one UPDATE, atomic on any database, SQLite included): two senders never mail one, and a
    sender that dies holding a claim leaves the notice to be tried again once the claim lapses."""
    mailed = 0
    due = Notice.objects.filter(next_attempt_at__lte=timezone.now()).order_by("next_attempt_at")
    for pk, due_at in due.values_list("pk", "next_attempt_at")[:BATCH]:
        claim = timezone.now() + CLAIM
        if not Notice.objects.filter(pk=pk, next_attempt_at=due_at).update(next_attempt_at=claim):
            continue  # another sender claimed it, or mailed it
        notice = Notice.objects.select_related("user").get(pk=pk)
        user = notice.user
        if not (user.is_active and user.email_notifications):
            # turned off (or the account closed) since the moment: not sent, and said so
            notice.next_attempt_at, notice.last_error = None, "not sent: e-mail turned off"
            notice.save(update_fields=["next_attempt_at", "last_error"])
            continue
        notice.attempts += 1
        try:
            send_mail(notice.subject, notice.body, None, [user.email])
        except Exception as exc:  # smtplib's and the socket's errors, and a backend's own
            _refused(notice, exc)
        else:
            notice.mailed_at, notice.next_attempt_at, notice.last_error = timezone.now(), None, ""
            mailed += 1
        notice.save(update_fields=["attempts", "mailed_at", "next_attempt_at", "last_error"])
    return mailed


def _refused(notice: Notice, exc: Exception) -> None:
    """Try `notice` again later, or give up after MAX_ATTEMPTS (the admin shows it)."""
    notice.last_error = f"{type(exc).__name__}: {exc}"[:300]
    if notice.attempts >= MAX_ATTEMPTS:
        notice.next_attempt_at = None
        logger.error("gave up mailing notice %s after %d attempts", notice.pk, notice.attempts)
        return
    wait = min(RETRY_FIRST * 2 ** (notice.attempts - 1), RETRY_MOST)
    notice.next_attempt_at = timezone.now() + wait
    logger.warning("the mail server refused notice %s (%s); again in %s", notice.pk, exc, wait)


def _when(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%d %b %Y %H:%M %Z}" if moment else "-"


def job_path(job: Job) -> str:
    return reverse("job_detail", args=[job.pk])


def order_path(job: Job) -> str:
    return reverse("shop_order_detail", args=[job.pk])


def auction_ended(job: Job, order: Order | None, bidders: list[Organization]) -> None:
    """The auction of `job` ended: awarded with `order` (to its shop), or with no valid bid
    (None). The customer, the winner and every other shop that bid are told."""
    if order is None:
        notify(
            organization=job.organization, key=f"auction_failed:{job.pk}",
            subject=f"Job #{job.pk}: no valid bid",
            body=f"The auction of \"{job.title}\" ended with no valid bid under your reserve "
            "price, so nobody was awarded. You can post the job again.",
            path=job_path(job),
        )  # fmt: skip
        return
    shop = order.shop
    notify(
        organization=job.organization, key=f"awarded:{job.pk}:{shop.pk}",
        subject=f"Job #{job.pk}: bids revealed, awarded to {shop.name}",
        body=f"The bids on \"{job.title}\" are revealed and the job is awarded to {shop.name} "
        f"for {format_amount(order.price)} USD. Fund the escrow by "
        f"{_when(order.funding_deadline)} to start production.",
        path=job_path(job),
    )  # fmt: skip
    notify(
        organization=shop, key=f"won:{job.pk}",
        subject=f"You won job #{job.pk}: {job.title}",
        body=f"Your bid won \"{job.title}\" at {format_amount(order.price)} USD. The customer "
        f"funds the escrow by {_when(order.funding_deadline)}; the design is released to you "
        "then.",
        path=order_path(job),
    )  # fmt: skip
    for other in bidders:
        if other.pk != shop.pk:
            notify(
                organization=other, key=f"lost:{job.pk}",
                subject=f"Job #{job.pk} went to another shop",
                body=f"Another shop's bid ranked first on \"{job.title}\". Your bids page has "
                "the outcome of each of your bids.",
                path=reverse("shop_bids"),
            )  # fmt: skip


def escrow_moved(order: Order, event: str) -> None:
    """An escrow event moved `order`: those it concerns are told what it means for them."""
    job = order.job
    if event == "EscrowFunded":
        notify(
            organization=order.shop, key=f"funded:{job.pk}",
            subject=f"Job #{job.pk} is funded: print it",
            body=f"The customer funded the escrow of \"{job.title}\". Its design is released to "
            f"you; delivery is due by {_when(order.delivery_deadline)}.",
            path=order_path(job),
        )  # fmt: skip
    elif event == "AwardExpired":
        notify(
            organization=order.shop, key=f"award_expired:{job.pk}:{order.shop_id}",
            subject=f"Your award of job #{job.pk} expired",
            body=f"The customer did not fund \"{job.title}\" in time, so your award expired.",
            path=reverse("shop_bids"),
        )  # fmt: skip
        notify(
            organization=job.organization, key=f"award_expired:{job.pk}:{order.shop_id}",
            subject=f"Job #{job.pk}: the award expired unfunded",
            body=f"The escrow of \"{job.title}\" was not funded in time, so the award to "
            f"{order.shop.name} expired and the "
            + ("award passes to the runner-up." if job.award_passes_to_runner_up
               else "job failed. You can post it again."),
            path=job_path(job),
        )  # fmt: skip
    elif event == "DeliveryRecorded":
        notify(
            organization=job.organization, key=f"delivered:{job.pk}",
            subject=f"Job #{job.pk} is delivered: accept or dispute",
            body=f"{order.shop.name} recorded the delivery of \"{job.title}\". Accept the parts "
            f"or dispute them by {_when(order.claim_deadline)}; after that the escrow pays the "
            "shop.",
            path=job_path(job),
        )  # fmt: skip
    elif event == "EscrowReleased":
        notify(
            organization=order.shop, key=f"paid:{job.pk}",
            subject=f"Job #{job.pk}: the escrow paid you",
            body=f"The escrow of \"{job.title}\" released {format_amount(order.shop_amount or 0)} "
            "USD to you. Withdraw it with printfair withdraw.",
            path=order_path(job),
        )  # fmt: skip


def deadline_reminders() -> int:
    """The reminders of deadlines within REMIND_BEFORE: an award to fund (the customer), a claim
    window closing (the customer and the shop). Each goes once; beat runs this every few minutes."""
    now = timezone.now()
    soon = now + REMIND_BEFORE
    sent = 0
    awarded = Order.objects.filter(
        status=Order.Status.AWARDED, funding_deadline__gt=now, funding_deadline__lte=soon
    ).select_related("job__organization")
    for order in awarded:
        job = order.job
        sent += notify(
            organization=job.organization, key=f"funding_due:{job.pk}:{order.shop_id}",
            subject=f"Fund job #{job.pk} by {_when(order.funding_deadline)}",
            body=f"The award of your job \"{job.title}\" waits for the escrow to be funded by "
            f"{_when(order.funding_deadline)}. Unfunded by then, it "
            + ("passes to the runner-up." if job.award_passes_to_runner_up else "expires."),
            path=job_path(job),
        )  # fmt: skip
    delivered = Order.objects.filter(
        status=Order.Status.DELIVERED, claim_deadline__gt=now, claim_deadline__lte=soon
    ).select_related("job__organization", "shop")
    for order in delivered:
        job, closes = order.job, _when(order.claim_deadline)
        sent += notify(
            organization=job.organization, key=f"claim_closing:{job.pk}",
            subject=f"Job #{job.pk}: accept or dispute by {closes}",
            body=f"The parts of \"{job.title}\" were delivered. Accept them or dispute them by "
            f"{closes}; after that the escrow pays the shop.",
            path=job_path(job),
        )  # fmt: skip
        sent += notify(
            organization=order.shop, key=f"claim_closing:{job.pk}",
            subject=f"Job #{job.pk}: the claim window closes {closes}",
            body=f"The customer may accept or dispute \"{job.title}\" until {closes}; if it does "
            "neither, the escrow pays you then.",
            path=order_path(job),
        )  # fmt: skip
    return sent
