"""E-mail at a job's moments (marketplace/notifications.py): who is told what when an auction
ends, funding and claim deadlines drawing near, each person once, and nobody who said no."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.mail.backends.locmem import EmailBackend
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.services.indexer import index_chain
from marketplace.models import Job, Notice, Order, User
from marketplace.notifications import (
    MAX_ATTEMPTS,
    RETRY_FIRST,
    deadline_reminders,
    escrow_moved,
    notices_send,
    notify,
)
from tests import factories
from tests.scenarios import at_once, awarded


def mailed(outbox: list[Any]) -> dict[str, list[str]]:
    """Each recipient's subjects."""
    found: dict[str, list[str]] = {}
    for message in outbox:
        for to in message.to:
            found.setdefault(to, []).append(message.subject)
    return found


def test_the_end_of_an_auction_tells_the_customer_the_winner_and_the_loser(
    market: dict[str, Any], customer: User, winning_shop: User, losing_shop: User,
    api_client: Callable[[User], Client], mailoutbox: list[Any],
) -> None:  # fmt: skip
    # given: a colleague of the customer's who wants no e-mail
    colleague = factories.UserFactory.create(email="carl@acme.example", email_notifications=False)
    factories.MembershipFactory.create(user=colleague, organization=customer.organization)
    # when: the auction ends with the winning shop's bid first
    job = awarded(market, winning_shop, losing_shop, api_client)
    assert mailoutbox == [] and notices_send() == 3  # beat's sender mails them
    # then: each is told, once, what it means for them
    shop = winning_shop.organization.name  # type: ignore[union-attr]
    assert mailed(mailoutbox) == {
        customer.email: [f"Job #{job.pk}: bids revealed, awarded to {shop}"],
        winning_shop.email: [f"You won job #{job.pk}: {job.title}"],
        losing_shop.email: [f"Job #{job.pk} went to another shop"],
    }
    body = next(m.body for m in mailoutbox if m.to == [customer.email])
    assert "400.00 USD" in body and "Fund the escrow by" in body
    assert f"http://127.0.0.1:8000{reverse('job_detail', args=[job.pk])}" in body
    # ... and never again, whatever indexes it again
    index_chain()
    assert notices_send() == 0
    assert len(mailoutbox) == 3 and Notice.objects.count() == 3


def test_deadlines_drawing_near_are_told_once(
    customer: User, winning_shop: User, mailoutbox: list[Any],
) -> None:  # fmt: skip
    # given: an award to fund within hours, and a delivery whose claim window closes soon
    now = timezone.now()
    shop = winning_shop.organization
    assert shop is not None
    shops = {"A": shop}
    awaiting = factories.auction_end(customer, shops, (Job.Status.AWARDED, Order.Status.AWARDED,
                                                       "A", None), "To fund")  # fmt: skip
    Order.objects.filter(job=awaiting).update(funding_deadline=now + timedelta(hours=3))
    delivered = factories.auction_end(customer, shops, (Job.Status.DELIVERED,
                                                        Order.Status.DELIVERED, "A", None),
                                      "Delivered")  # fmt: skip
    Order.objects.filter(job=delivered).update(claim_deadline=now + timedelta(hours=5))
    later = factories.auction_end(customer, shops, (Job.Status.AWARDED, Order.Status.AWARDED,
                                                    "A", None), "Later")  # fmt: skip
    Order.objects.filter(job=later).update(funding_deadline=now + timedelta(days=3))
    # when: the reminders run, twice
    for _ in range(2):
        deadline_reminders()
        notices_send()
    # then: the customer is reminded of both, the shop of the claim window, each once
    assert mailed(mailoutbox) == {
        customer.email: [f"Fund job #{awaiting.pk} by " + _when(now + timedelta(hours=3)),
                         f"Job #{delivered.pk}: accept or dispute by "
                         + _when(now + timedelta(hours=5))],
        winning_shop.email: [f"Job #{delivered.pk}: the claim window closes "
                             + _when(now + timedelta(hours=5))],
    }  # fmt: skip


def test_the_escrows_steps_tell_whom_they_concern(
    customer: User, winning_shop: User, mailoutbox: list[Any],
) -> None:  # fmt: skip
    shop = winning_shop.organization
    assert shop is not None
    job = factories.auction_end(
        customer, {"A": shop}, (Job.Status.FUNDED, Order.Status.FUNDED, "A", None), "Bracket"
    )
    order = Order.objects.get(job=job)
    for event in ("EscrowFunded", "DeliveryRecorded", "EscrowReleased", "EscrowFunded"):
        escrow_moved(order, event)
    notices_send()
    assert mailed(mailoutbox) == {
        winning_shop.email: [f"Job #{job.pk} is funded: print it",
                             f"Job #{job.pk}: the escrow paid you"],
        customer.email: [f"Job #{job.pk} is delivered: accept or dispute"],
    }  # fmt: skip


def test_a_mail_server_that_refuses_delays_the_email_and_never_loses_it(
    customer: User, winning_shop: User, settings: Any, mailoutbox: list[Any]
) -> None:
    # given: a delivery to tell the customer of, and nothing listening where the mail goes
    shop = winning_shop.organization
    assert shop is not None
    job = factories.auction_end(
        customer, {"A": shop}, (Job.Status.FUNDED, Order.Status.FUNDED, "A", None), "Bracket"
    )
    escrow_moved(Order.objects.get(job=job), "DeliveryRecorded")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    # when: the sender runs
    assert notices_send() == 0
    # then: the notice waits, and is not tried again before its time
    notice = Notice.objects.get()
    assert notice.mailed_at is None and notice.attempts == 1
    assert "ConnectionRefusedError" in notice.last_error
    assert notice.next_attempt_at is not None
    assert notice.next_attempt_at - timezone.now() > RETRY_FIRST - timedelta(seconds=5)
    assert notices_send() == 0 and Notice.objects.get().attempts == 1
    # when: its time comes with the server still down, then up again
    Notice.objects.update(next_attempt_at=timezone.now())
    assert notices_send() == 0
    waited = Notice.objects.get().next_attempt_at - timezone.now()  # type: ignore[operator]
    assert waited > 2 * RETRY_FIRST - timedelta(seconds=5)  # twice as long
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Notice.objects.update(next_attempt_at=timezone.now())
    # then: it is mailed once, and marked so
    assert notices_send() == 1 and notices_send() == 0
    assert [m.subject for m in mailoutbox] == [f"Job #{job.pk} is delivered: accept or dispute"]
    notice = Notice.objects.get()
    assert notice.mailed_at is not None and notice.next_attempt_at is None
    assert notice.attempts == 3 and notice.last_error == ""


def test_the_sender_gives_up_after_its_attempts_and_says_why(
    customer: User, settings: Any, mailoutbox: list[Any]
) -> None:
    assert customer.organization is not None
    notify(organization=customer.organization, key="k:1", subject="S", body="B", path="/")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    Notice.objects.update(attempts=MAX_ATTEMPTS - 1)
    assert notices_send() == 0
    notice = Notice.objects.get()
    assert notice.attempts == MAX_ATTEMPTS and notice.next_attempt_at is None
    assert notice.mailed_at is None and "ConnectionRefusedError" in notice.last_error
    assert notices_send() == 0 and mailoutbox == []


def test_a_notice_written_before_its_person_turned_email_off_is_not_sent(
    customer: User, mailoutbox: list[Any]
) -> None:
    assert customer.organization is not None
    notify(organization=customer.organization, key="k:1", subject="S", body="B", path="/")
    User.objects.filter(pk=customer.pk).update(email_notifications=False)
    assert notices_send() == 0 and notices_send() == 0 and mailoutbox == []
    notice = Notice.objects.get()
    assert notice.mailed_at is None and notice.next_attempt_at is None
    assert notice.last_error == "not sent: e-mail turned off"


class SlowBackend(EmailBackend):
    """The test outbox, behind a mail server that takes its time."""

    def send_messages(self, messages: Any) -> int:
        time.sleep(0.5)
        return int(super().send_messages(messages))


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_mail_a_notice_once(
    customer: User, settings: Any, mailoutbox: list[Any]
) -> None:
    # given: a notice due, and a slow mail server (the window where two passes could overlap)
    assert customer.organization is not None
    notify(organization=customer.organization, key="k:1", subject="S", body="B", path="/")
    settings.EMAIL_BACKEND = f"{__name__}.SlowBackend"
    # when: two of beat's passes run at once
    mailed = at_once([notices_send, notices_send])
    # then: one of them mailed it, once
    assert sorted(mailed) == [0, 1] and len(mailoutbox) == 1
    assert Notice.objects.get().attempts == 1


def test_a_person_turns_the_email_off_and_on(customer: User, login: Any) -> None:
    browser = login(customer)
    page = browser.get(reverse("organization")).content.decode()
    assert 'name="email_notifications" id="id_email_notifications" checked' in page
    browser.post(reverse("account_notifications"), {})
    customer.refresh_from_db()
    assert customer.email_notifications is False
    browser.post(reverse("account_notifications"), {"email_notifications": "on"})
    customer.refresh_from_db()
    assert customer.email_notifications is True


def _when(moment: Any) -> str:
    return f"{timezone.localtime(moment):%d %b %Y %H:%M %Z}"
