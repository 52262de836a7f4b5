"""In a real browser, a customer whose job was awarded tops up its wallet, sees the ranked bids,
funds the escrow and accepts the delivery; the page follows the chain by itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

from marketplace.models import Order, User
from tests.scenarios import PRICE_W, awarded, log_in, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_funds_and_accepts_in_the_browser(
    page: Page,
    live_server: Any,
    market: dict[str, Any],
    customer: User,
    winning_shop: User,
    losing_shop: User,
    api_client: Callable[[User], Client],
) -> None:
    job = awarded(market, winning_shop, losing_shop, api_client)
    base = live_server.url
    log_in(page, base, customer)

    page.goto(f"{base}{reverse('organization')}")
    page.get_by_role("button", name="Get 10,000 test USD").click()
    expect(page.get_by_role("alert").first).to_contain_text("test USD are on their way")
    settle()
    page.reload()
    expect(page.locator("#wallet-balance")).to_have_text("10,000.00 USD")

    page.goto(f"{base}{reverse('job_detail', args=[job.pk])}")
    ranked = page.locator("#bids-ranked")
    expect(ranked.locator("tbody tr").first).to_contain_text("400.00")
    expect(ranked.locator("tbody tr").first).to_contain_text("winner")
    page.get_by_role("button", name="Fund escrow (400.00 USD)").click()
    expect(page.get_by_role("alert").first).to_contain_text("Funding sent")
    expect(page.locator("#order-actions")).to_contain_text("fund")
    settle()
    # the panel polls while calls are on their way, and shows the final event's state
    expect(page.locator("#order-status")).to_have_text("Funded, in production")

    response = api_client(winning_shop).post(reverse("api_order_delivered", args=[job.pk]))
    assert response.status_code == 202
    settle()
    page.reload()
    expect(page.locator("#order-status")).to_have_text("Delivered, claim window open")
    page.get_by_role("button", name="Accept and pay the shop").click()
    settle()
    expect(page.locator("#order-status")).to_have_text("Accepted, escrow released")
    expect(page.locator("#money-trail")).to_contain_text("EscrowReleased")
    assert Order.objects.get(job=job).shop_amount == PRICE_W - PRICE_W * 250 // 10_000
