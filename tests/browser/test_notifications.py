"""In a real browser, on a desktop and on a phone: a customer turns its e-mail about its jobs'
moments off and on again on the organisation page, and the console backend (as under `make
run`) prints a moment's e-mail only while it is on."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from marketplace.models import Job, Order, User
from marketplace.notifications import escrow_moved, notices_send
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_customer_turns_its_email_off_and_on(
    page: Page, live_server: Any, customer: User, winning_shop: User, settings: Any,
    capsys: pytest.CaptureFixture[str], width: int,
) -> None:  # fmt: skip
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    shop = winning_shop.organization
    assert shop is not None
    funded = (Job.Status.FUNDED, Order.Status.FUNDED, "A", None)
    jobs = [factories.auction_end(customer, {"A": shop}, funded, f"Part {n}") for n in (1, 2)]
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, customer)
    page.goto(f"{live_server.url}{reverse('organization')}")
    choice = page.get_by_label("E-mail me when my jobs need me", exact=False)
    expect(choice).to_be_checked()

    # when: it turns the e-mail off, and a delivery is recorded
    choice.uncheck()
    page.locator("#notifications").get_by_role("button", name="Save").click()
    expect(page.get_by_text("No more e-mail about your jobs' moments")).to_be_visible()
    expect(choice).not_to_be_checked()
    capsys.readouterr()
    escrow_moved(Order.objects.get(job=jobs[0]), "DeliveryRecorded")
    notices_send()  # as beat does
    # then: nothing is printed
    assert "Subject:" not in capsys.readouterr().out

    # when: it turns it on again, and the next delivery is recorded
    choice.check()
    page.locator("#notifications").get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"You will get e-mail at {customer.email}")).to_be_visible()
    escrow_moved(Order.objects.get(job=jobs[1]), "DeliveryRecorded")
    notices_send()
    # then: the console prints it, to the customer, with the job's link
    out = capsys.readouterr().out
    assert f"Subject: Job #{jobs[1].pk} is delivered: accept or dispute" in out
    assert f"To: {customer.email}" in out and f"/jobs/{jobs[1].pk}/" in out
