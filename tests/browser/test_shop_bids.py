"""In a real browser, on a desktop and on a phone: a shop finds its bids page in the menu, sees
each bid with its outcome, nothing cut off (on a phone each row stacks into labelled lines), and
filters by outcome."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from marketplace.models import Job, Order, User
from tests import factories
from tests.scenarios import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page_fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("width", [1280, 390])
def test_the_bids_page_reads_on_a_desktop_and_on_a_phone(
    page: Page, live_server: Any, customer: User, winning_shop: User,
    losing_shop: User, width: int,
) -> None:  # fmt: skip
    # given: the winning shop's won, lost and pending bids
    assert winning_shop.organization is not None and losing_shop.organization is not None
    shops = {"A": winning_shop.organization, "B": losing_shop.organization}
    funded, ordered = Job.Status.FUNDED, Order.Status.FUNDED
    factories.auction_end(customer, shops, (funded, ordered, "A", None), "Won bracket")
    factories.auction_end(customer, shops, (funded, ordered, "B", None), "Lost bracket")
    factories.auction_end(customer, shops, (Job.Status.OPEN, None, None, None), "Open bracket")
    page.set_viewport_size({"width": width, "height": 900})

    # when: it opens the page from the menu
    log_in(page, live_server.url, winning_shop)
    if width < 768:  # (navbar-expand-md)
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Bids").click()

    # then: every bid shows, nothing is cut off, and on a phone each row stacks with labels
    rows = page.locator("#shop-bids tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator('tr[data-outcome="won"]')).to_contain_text("Won bracket")
    expect(page.locator('tr[data-outcome="lost"]')).to_contain_text("Another shop")
    assert _page_fits(page)
    header = page.locator("#shop-bids thead")
    if width < 576:
        expect(header).to_be_hidden()
        label = page.locator('tr[data-outcome="pending"] td[data-label="Outcome"]')
        style = "e => getComputedStyle(e, '::before').content"
        assert page.evaluate(style, label.element_handle()) == '"Outcome"'
        assert label.bounding_box()["width"] > width * 0.8  # type: ignore[index]
    else:
        expect(header).to_be_visible()
    # ... and one outcome at a time
    page.locator('#bid-outcomes a[data-outcome="lost"]').click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Lost bracket")
