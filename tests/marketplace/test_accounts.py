"""Logging in, signing up and resetting a password, named after the attacks they stop: password
guessing (django-axes), finding out who has an account, and claiming someone else's address."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.db.models import F
from django.test import Client
from django.urls import reverse

from marketplace import services
from marketplace.models import AuditEvent, Membership, PendingSignUp, User
from tests import factories

RIGHT = factories.PASSWORD
WRONG = "not-the-password"
LIMIT = 5  # AXES_FAILURE_LIMIT
NEW = "nora@newco.example"
NEW_PASSWORD = "a-long-passphrase-42"


def log_in(client: Client, email: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": email, "password": password})


def logged_in(client: Client) -> bool:
    return client.get(reverse("organization")).status_code == 200


def templates(response: Any) -> list[str]:
    """The page's templates (the test client also lists those of mails sent meanwhile)."""
    return [t.name for t in response.templates if t.name and t.name.endswith(".html")]


def page(response: Any, email: str = "") -> str:
    """The body, with the address and the per-response CSRF token blanked out."""
    body = response.content.decode()
    if email:
        body = body.replace(email, "EMAIL")
    return re.sub(r"[A-Za-z0-9]{64}", "CSRF", body)


def sign_up(client: Client, email: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(
        reverse("signup"),
        {
            "name": "Nora Maker",
            "email": email,
            "password": password,
            "organization_name": "NewCo",
            "kind": "customer",
        },
    )


def link_in(message: mail.EmailMessage) -> str:
    """The path of the first link to this site in a mail."""
    found = re.search(r"http://testserver(/\S+/)", str(message.body))
    assert found, message.body
    return found.group(1)


# --- Login throttling -------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_guesser_out_so_the_right_one_is_refused(
    customer: User,
) -> None:
    client = Client()
    statuses = [log_in(client, customer.email, WRONG).status_code for _ in range(30)]
    # The form answers the first four guesses; from the fifth on, the lockout page.
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)
    assert set(statuses[LIMIT - 1 :]) == {429}

    response = log_in(client, customer.email, RIGHT)

    assert response.status_code == 429
    assert "registration/locked_out.html" in templates(response)
    assert "wait <strong>15 minutes</strong>" in response.content.decode()
    assert not logged_in(client)


def test_the_lockout_page_does_not_tell_whether_an_address_has_an_account(
    customer: User,
) -> None:
    # given a guesser at a real address and one at an address nobody has
    unknown = "nobody@acme.example"
    for _ in range(LIMIT - 1):
        log_in(Client(), customer.email, WRONG)
        log_in(Client(), unknown, WRONG)

    # when each makes one more guess
    known_response = log_in(Client(), customer.email, WRONG)
    unknown_response = log_in(Client(), unknown, WRONG)

    # then both are locked out alike: axes counts guesses at unknown addresses too
    assert known_response.status_code == unknown_response.status_code == 429
    assert templates(known_response) == templates(unknown_response)
    assert page(known_response, customer.email) == page(unknown_response, unknown)
    assert AccessAttempt.objects.get(username=unknown).failures_since_start == LIMIT


def test_guessing_passwords_on_the_admin_login_is_throttled_too(admin_user: User) -> None:
    client = Client()
    url = reverse("admin:login")
    form = {"username": admin_user.email, "password": WRONG, "next": "/admin/"}
    statuses = [client.post(url, form).status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]

    response = client.post(url, {**form, "password": RIGHT})

    assert response.status_code == 429
    assert "registration/locked_out.html" in templates(response)
    assert client.get(reverse("admin:index")).status_code == 302  # still to the login page


def test_a_successful_login_resets_the_count_so_typos_do_not_add_up(customer: User) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        log_in(client, customer.email, WRONG)
    assert log_in(client, customer.email, RIGHT).status_code == 302
    client.post(reverse("logout"))

    for _ in range(LIMIT - 1):
        log_in(client, customer.email, WRONG)

    assert log_in(client, customer.email, RIGHT).status_code == 302
    assert logged_in(client)


def test_a_guesser_elsewhere_cannot_lock_the_owner_out(customer: User) -> None:
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(LIMIT):
        log_in(guesser, customer.email, WRONG)
    assert log_in(guesser, customer.email, RIGHT).status_code == 429

    owner = Client(REMOTE_ADDR="198.51.100.7")
    assert log_in(owner, customer.email, RIGHT).status_code == 302


def test_the_lockout_ends_after_the_cool_off(customer: User) -> None:
    client = Client()
    for _ in range(LIMIT):
        log_in(client, customer.email, WRONG)
    assert log_in(client, customer.email, RIGHT).status_code == 429

    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=15))

    assert log_in(client, customer.email, RIGHT).status_code == 302


# --- Sign-up by e-mail --------------------------------------------------------------------------


def test_sign_up_does_not_tell_whether_an_address_has_an_account(customer: User) -> None:
    # when one visitor signs up with a new address and another with a registered one
    new_response = sign_up(Client(), NEW)
    known_response = sign_up(Client(), customer.email.upper())

    # then both see the same page, with the same cookies
    assert new_response.status_code == known_response.status_code == 200
    assert templates(new_response) == templates(known_response)
    assert "registration/signup_sent.html" in templates(new_response)
    assert page(new_response, NEW) == page(known_response, customer.email)
    assert f"We sent a link to <strong>{NEW}</strong>" in new_response.content.decode()
    assert set(new_response.cookies) == set(known_response.cookies)
    assert sorted(new_response.headers) == sorted(known_response.headers)

    # and each address gets the mail it needs: a link, or a warning to its owner
    confirm, warning = mail.outbox
    assert confirm.to == [NEW] and "/signup/confirm/" in str(confirm.body)
    assert warning.to == [customer.email]
    assert "already has an account" in str(warning.body)
    assert "/signup/confirm/" not in str(warning.body)
    assert f"http://testserver{reverse('password_reset')}" in str(warning.body)
    assert f"http://testserver{reverse('login')}" in str(warning.body)

    # and nothing but the new address's pending sign-up is kept
    assert list(PendingSignUp.objects.values_list("email", flat=True)) == [NEW]
    assert not User.objects.filter(email=NEW).exists()
    assert AuditEvent.objects.filter(verb="signup.attempted_for_existing_account").count() == 1


def test_under_make_run_the_page_says_where_the_link_is_printed(settings: Any, db: None) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert "make run" in sign_up(Client(), NEW).content.decode()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert "make run" not in sign_up(Client(), "second@example.com").content.decode()


def test_the_confirmation_link_creates_the_account_and_logs_in(db: None) -> None:
    client = Client()
    sign_up(client, NEW)
    pending = PendingSignUp.objects.get()
    assert pending.password_hash != NEW_PASSWORD and NEW_PASSWORD not in pending.token_hash
    link = link_in(mail.outbox[0])

    response = client.get(link)

    assert response.status_code == 302 and response.url == reverse("dashboard")
    user = User.objects.get(email=NEW)
    assert user.name == "Nora Maker" and user.check_password(NEW_PASSWORD)
    assert user.organization is not None and user.organization.name == "NewCo"
    assert user.organization.is_customer
    assert user.membership.role == Membership.Role.OWNER
    assert client.get(reverse("job_list")).status_code == 200
    assert not PendingSignUp.objects.exists()
    # A used link is no longer valid; the password works for logging in.
    client.post(reverse("logout"))
    used = client.get(link)
    assert used.status_code == 404 and "registration/signup_link_invalid.html" in templates(used)
    assert log_in(Client(), NEW, NEW_PASSWORD).status_code == 302


def test_a_print_shop_sign_up_gets_its_profile(db: None) -> None:
    client = Client()
    client.post(
        reverse("signup"),
        {
            "name": "Sam",
            "email": "sam@shop.example",
            "password": NEW_PASSWORD,
            "organization_name": "Sam's Sinters",
            "kind": "print_shop",
        },
    )
    client.get(link_in(mail.outbox[0]))
    organization = User.objects.get(email="sam@shop.example").organization
    assert organization is not None and organization.shop_profile.is_verified is False


def test_an_attackers_sign_up_for_a_victims_address_cannot_be_activated_by_the_victim(
    db: None,
) -> None:
    # given an attacker who signs up with the victim's address and a password of their own
    victim = "vic@target.example"
    sign_up(Client(), victim, password="attackers-secret-99")
    link = link_in(mail.outbox[0])

    # when the victim follows the link in their own browser
    browser = Client()
    response = browser.get(link)

    # then no account is made: the page asks for the password the signer chose
    assert response.status_code == 200
    assert "registration/signup_confirm.html" in templates(response)
    assert browser.post(link, {"password": ""}).status_code == 200
    guessed = browser.post(link, {"password": "my-own-password-1"})
    assert "That is not the password chosen at sign-up." in guessed.content.decode()
    assert not User.objects.filter(email=victim).exists()
    assert not logged_in(browser)

    # and when the victim signs up for real, their link wins and the attacker's dies with it
    mine = Client()
    sign_up(mine, victim, password="victims-own-pass-77")
    assert mine.get(link_in(mail.outbox[1])).status_code == 302
    assert User.objects.get(email=victim).check_password("victims-own-pass-77")
    assert Client().post(link, {"password": "attackers-secret-99"}).status_code == 404


def test_the_owner_finishes_in_another_browser_with_the_password_chosen(db: None) -> None:
    sign_up(Client(), NEW)
    link = link_in(mail.outbox[0])
    phone = Client()

    response = phone.post(link, {"password": NEW_PASSWORD})

    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert logged_in(phone)


def test_an_expired_link_shows_a_way_to_sign_up_again(db: None) -> None:
    client = Client()
    sign_up(client, NEW)
    PendingSignUp.objects.update(created_at=F("created_at") - PendingSignUp.LIFETIME)

    response = client.get(link_in(mail.outbox[0]))

    assert response.status_code == 404
    assert "registration/signup_link_invalid.html" in templates(response)
    assert f'href="{reverse("signup")}"' in response.content.decode()
    assert not User.objects.filter(email=NEW).exists()


def test_an_unknown_link_shows_a_way_to_sign_up_again(db: None) -> None:
    response = Client().get(reverse("signup_confirm", args=["made-up-token"]))
    assert response.status_code == 404
    assert "registration/signup_link_invalid.html" in templates(response)


def test_a_link_for_an_address_that_got_an_account_meanwhile_says_to_log_in(db: None) -> None:
    client = Client()
    sign_up(client, NEW)
    # e.g. an operator made the account in the admin before the link was followed
    services.user_sign_up(
        email=NEW, password=RIGHT, name="Nora", organization_name="NewCo", kind="customer"
    )

    response = client.get(link_in(mail.outbox[0]))

    assert response.status_code == 200
    assert "registration/signup_account_exists.html" in templates(response)
    assert f'href="{reverse("login")}"' in response.content.decode()
    assert User.objects.get(email=NEW).check_password(RIGHT)
    assert not logged_in(client)


def test_two_sign_ups_for_one_address_make_one_account(db: None) -> None:
    first, second = Client(), Client()
    sign_up(first, NEW)
    sign_up(second, NEW, password="another-passphrase-7")

    assert second.get(link_in(mail.outbox[1])).status_code == 302

    assert first.get(link_in(mail.outbox[0])).status_code == 404
    assert User.objects.get(email=NEW).check_password("another-passphrase-7")


def test_sign_up_form_errors_still_show_on_their_fields(db: None) -> None:
    response = sign_up(Client(), "eve@e.example", password="123")
    assert response.status_code == 200
    assert "This password is too short" in response.context["form"].errors["password"][0]
    assert mail.outbox == [] and not PendingSignUp.objects.exists()


# --- Password reset -----------------------------------------------------------------------------


def test_password_reset_mails_a_registered_address_and_tells_nobody_which_it_was(
    customer: User,
) -> None:
    known = Client().post(reverse("password_reset"), {"email": customer.email})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@acme.example"})

    assert known.status_code == unknown.status_code == 302
    assert known.url == unknown.url == reverse("password_reset_done")
    (message,) = mail.outbox
    assert message.to == [customer.email]
    assert "/password/reset/" in str(message.body)


def test_a_password_reset_link_sets_the_password_and_lifts_a_lockout(customer: User) -> None:
    # given an owner who locked themselves out
    client = Client()
    for _ in range(LIMIT):
        log_in(client, customer.email, WRONG)
    assert "Reset it" in log_in(client, customer.email, RIGHT).content.decode()

    # when they follow the reset link and choose a new password
    client.post(reverse("password_reset"), {"email": customer.email})
    form_url = client.get(link_in(mail.outbox[0])).url
    response = client.post(
        form_url, {"new_password1": "brand-new-pass-31", "new_password2": "brand-new-pass-31"}
    )

    # then they are logged in, and the new password works at once
    assert response.status_code == 302 and response.url == reverse("password_reset_complete")
    assert logged_in(client)
    client.post(reverse("logout"))
    assert log_in(client, customer.email, "brand-new-pass-31").status_code == 302


@pytest.mark.parametrize(
    "name",
    ["password_reset", "password_reset_done", "password_reset_complete"],
)
def test_password_reset_pages_are_in_the_sites_look(name: str, db: None) -> None:
    response = Client().get(reverse(name))
    assert response.status_code == 200
    assert "base.html" in templates(response)


def test_a_mail_server_that_does_not_answer_is_a_clear_refusal_not_an_error(
    db: None, customer: User, settings: Any
) -> None:
    """The sign-up page waits for the mail to go out: a mail server that refuses or does not
    answer is said so, the same for a new address and a registered one."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    pages = []
    for email in ("new@nowhere.example", customer.email):
        response = Client().post(
            reverse("signup"),
            {"name": "Nia", "email": email, "password": "a-long-passphrase-42",
             "organization_name": "N", "kind": "customer"},
        )  # fmt: skip
        assert response.status_code == 200
        pages.append(page(response, email))
    assert "could not send the e-mail just now" in pages[0]
    assert pages[0] == pages[1]
