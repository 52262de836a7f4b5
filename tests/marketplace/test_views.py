"""Browser views for accounts and jobs, through Django's test client."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import ChainEvent
from marketplace.models import CustomerWallet, Job, User
from tests import factories

Login = Callable[[User | None], Client]


def job_form(**changes: Any) -> dict[str, Any]:
    now = timezone.now()
    data = {
        "title": "Gripper finger",
        "description": "Soft-touch finger for a pick-and-place gripper.",
        "process": "sls",
        "material": "tpu",
        "quantity": "40",
        "spares": "4",
        "tolerance_mm": "0.150",
        "finish": "dyed",
        "required_certifications": ["iso_9001", "iatf_16949"],
        "needed_by": (now + timedelta(days=30)).strftime("%Y-%m-%d"),
        "reserve_price": "1200.00",
        "commit_deadline": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "reveal_deadline": (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "pricing_rule": "second_price",
        "funding_window_hours": "48",
        "award_passes_to_runner_up": "on",
    }
    data.update(changes)
    return data


def test_the_password_rules_show_before_the_first_try(db: None) -> None:
    page = Client().get(reverse("signup")).content.decode()
    rules = page[page.index('id="id_password"') :]
    assert "<li>Your password must contain at least 8 characters.</li>" in rules  # not escaped
    assert 'autocomplete="new-password"' in page


def test_sign_up_log_out_and_log_in(db: None) -> None:
    client = Client()
    response = client.post(
        reverse("signup"),
        {
            "name": "Carla",
            "email": "carla@firm.example",
            "password": "a-long-passphrase-42",
            "organization_name": "Firm",
            "kind": "customer",
        },
    )
    assert "Check your inbox" in response.content.decode()
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/signup/confirm/\S+/)", str(message.body))
    assert link is not None
    response = client.get(link.group(1))
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("job_list")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("job_list")).status_code == 302
    response = client.post(
        reverse("login"), {"username": "carla@firm.example", "password": "a-long-passphrase-42"}
    )
    assert response.status_code == 302
    assert client.get(reverse("job_list")).status_code == 200


def test_sign_up_errors_are_shown_on_fields(db: None) -> None:
    # A registered address is no error here: the page must not tell (tests/marketplace/
    # test_accounts.py); a password that is too short is.
    response = Client().post(
        reverse("signup"),
        {
            "name": "Eve",
            "email": "eve@e.example",
            "password": "123",
            "organization_name": "E",
            "kind": "customer",
        },
    )
    assert "This password is too short" in response.context["form"].errors["password"][0]


def test_create_a_job_with_every_field(customer: User, login: Login) -> None:
    response = login(customer).post(reverse("job_create"), job_form())
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("job_detail", args=[job.pk])
    assert job.material == "tpu" and job.quantity == 40 and job.spares == 4
    assert job.required_certifications == ["iso_9001", "iatf_16949"]
    assert job.pricing_rule == "second_price" and job.finish == "dyed"
    assert (job.funding_window_hours, job.award_passes_to_runner_up) == (48, True)
    page = login(customer).get(reverse("job_detail", args=[job.pk])).content.decode()
    assert "Gripper finger" in page and "IATF 16949" in page


def test_job_form_shows_field_errors(customer: User, login: Login) -> None:
    now = timezone.now()
    response = login(customer).post(
        reverse("job_create"),
        job_form(
            quantity="0",
            material="ti6al4v",
            commit_deadline=(now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        ),
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) >= {"quantity", "material", "commit_deadline"}
    assert "does not print this material" in errors["material"][0]
    assert not Job.objects.exists()
    # a funding window that leaves the shop no day before the parts are needed
    response = login(customer).post(
        reverse("job_create"),
        job_form(
            needed_by=(now + timedelta(days=4)).strftime("%Y-%m-%d"),
            funding_window_hours="72",
        ),
    )
    assert "72 hours you give yourself to fund" in response.context["form"].errors["needed_by"][0]
    too_long = login(customer).post(reverse("job_create"), job_form(funding_window_hours="721"))
    assert "funding_window_hours" in too_long.context["form"].errors
    assert not Job.objects.exists()


def test_edit_publish_and_cancel(customer: User, login: Login, upload: Any, testdata: Any) -> None:
    client = login(customer)
    client.post(reverse("job_create"), job_form())
    job = Job.objects.get()
    response = client.post(reverse("job_edit", args=[job.pk]), job_form(title="Gripper finger v2"))
    assert response.status_code == 302
    response = client.post(reverse("job_publish", args=[job.pk]), follow=True)
    assert "Attach at least one design file" in response.content.decode()
    upload(customer, job, ("finger.stl", (testdata / "stl" / "star_binary.stl").read_bytes()))
    response = client.post(reverse("job_publish", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert job.status == Job.Status.OPEN and job.title == "Gripper finger v2"
    response = client.get(reverse("job_edit", args=[job.pk]), follow=True)
    assert "Only draft jobs can be edited" in response.content.decode()
    client.post(reverse("job_cancel", args=[job.pk]))
    job.refresh_from_db()
    # the auction ends on chain first (tests/ledger/test_auctions.py)
    assert job.status == Job.Status.CANCELLING
    assert job.cancel_tx is not None and job.cancel_tx.function == "cancelAuction"
    # a draft has no auction: it is cancelled at once
    client.post(reverse("job_create"), job_form(title="Never published"))
    draft = Job.objects.get(title="Never published")
    client.post(reverse("job_cancel", args=[draft.pk]))
    draft.refresh_from_db()
    assert (draft.status, draft.cancel_tx) == (Job.Status.CANCELLED, None)


def test_job_list_filters_and_never_shows_other_customers_jobs(
    customer: User, other_customer: User, login: Login
) -> None:
    factories.JobFactory.create(created_by=customer, title="Alpha bracket")
    factories.JobFactory.create(
        created_by=customer, title="Beta hinge", status=Job.Status.OPEN, process="mjf"
    )
    factories.JobFactory.create(created_by=other_customer, title="Secret draft")
    client = login(customer)
    page = client.get(reverse("job_list")).content.decode()
    assert "Alpha bracket" in page and "Beta hinge" in page and "Secret draft" not in page
    page = client.get(reverse("job_list") + "?status=open").content.decode()
    assert "Beta hinge" in page and "Alpha bracket" not in page
    page = client.get(reverse("job_list") + "?process=mjf").content.decode()
    assert "Beta hinge" in page and "Alpha bracket" not in page
    page = client.get(reverse("job_list") + "?query=alpha").content.decode()
    assert "Alpha bracket" in page and "Beta hinge" not in page


def test_an_open_jobs_status_follows_its_deadlines(customer: User, login: Login) -> None:
    now = timezone.now()
    job = factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN)
    client = login(customer)
    for commit, reveal, label in (
        (now + timedelta(hours=1), now + timedelta(hours=2), "Open for bids"),
        (now - timedelta(hours=1), now + timedelta(hours=1), "Revealing bids"),
        (now - timedelta(hours=2), now - timedelta(hours=1), "Awarding"),
    ):
        Job.objects.filter(pk=job.pk).update(commit_deadline=commit, reveal_deadline=reveal)
        for page in ("job_list", "job_detail"):
            args = [job.pk] if page == "job_detail" else []
            html = client.get(reverse(page, args=args)).content.decode()
            assert f'status-badge text-bg-success">{label}</span>' in html, (page, label)


# --- no writes on GET ----------------------------------------------------------------------------


def wallet_pages(job: Job) -> list[str]:
    """The pages that show the organisation's wallet (and once made it on a first load)."""
    return [
        reverse("organization"),
        reverse("job_detail", args=[job.pk]),
        reverse("job_order_panel", args=[job.pk]),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_first_loads_at_once_both_answer_and_make_no_wallet(customer: User) -> None:
    """The organisation page and the order panel made the custodial wallet when first loaded,
    so two first loads at once raced to make it. A page now only reads: no wallet is made until
    an action needs one."""
    # given: a customer whose organisation has no wallet yet
    job = factories.JobFactory.create(created_by=customer)
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.force_login(customer)
    barrier = threading.Barrier(len(browsers))

    def first_loads(browser: Client) -> list[int]:
        try:
            barrier.wait(timeout=30)
            return [browser.get(page).status_code for page in wallet_pages(job)]
        finally:
            connection.close()  # each thread has a database connection of its own

    # when: both load every wallet page at the same time
    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        statuses = list(pool.map(first_loads, browsers))

    # then
    assert statuses == [[200, 200, 200]] * len(browsers)
    assert not CustomerWallet.objects.exists()


def test_a_get_writes_nothing_before_the_first_wallet_exists(customer: User, login: Login) -> None:
    # given
    job = factories.JobFactory.create(created_by=customer)
    browser = login(customer)

    # when
    with CaptureQueriesContext(connection) as queries:
        pages = [browser.get(page) for page in wallet_pages(job)]

    # then: every page answers, says there is no wallet yet, and nothing was written
    assert [page.status_code for page in pages] == [200, 200, 200]
    writes = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE"))
    ]
    assert writes == []
    assert not CustomerWallet.objects.exists()
    organisation = pages[0].content.decode()
    assert "Not made yet" in organisation and "Custodial" in organisation
    assert 'id="faucet"' in organisation  # the first action that makes the wallet is offered


def test_the_money_list_pages_back_through_its_movements(customer: User, login: Login) -> None:
    # given: 30 final withdrawals to the customer's wallet, one a block
    assert customer.organization is not None
    wallet = "0x" + "Ab" * 20
    CustomerWallet.objects.create(organization=customer.organization, address=wallet)
    ChainEvent.objects.bulk_create(
        ChainEvent(
            chain_id=31337, block_number=block, block_hash=f"0x{block:064x}", log_index=0,
            tx_hash=f"0x{block:064x}", contract="AuctionHouse", address="0x" + "a" * 40,
            name="Withdrawn", args={"account": wallet.lower(), "amount": str(block * 10**6)},
            applied=True,
        )
        for block in range(1, 31)
    )  # fmt: skip
    browser = login(customer)

    def blocks(page: str) -> tuple[list[int], str]:
        html = browser.get(reverse("organization"), {"money": page}).content.decode()
        return [int(b) for b in re.findall(r"block (\d+) ·", html)], html

    # then: the newest 25, newest first, and a way to the older ones
    newest, html = blocks("1")
    assert newest == list(range(30, 5, -1))
    assert 'href="?money=2#money">Older' in html and "Newer" not in html
    # ... the older 5, and back
    older, html = blocks("2")
    assert older == [5, 4, 3, 2, 1]
    assert 'href="?money=1#money">' in html and "Older" not in html
    # ... and a page that is not one reads as the first
    for wrong in ("0", "-1", "x", "41", "99999999999999999999"):
        assert blocks(wrong)[0] == newest
