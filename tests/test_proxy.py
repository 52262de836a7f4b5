"""Behind the TLS proxy (docker-compose.yml's Caddy): what the client used and who it is are
believed from the proxies PRINTFAIR_TRUSTED_PROXIES names and from nobody else (issue 20)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings

from marketplace.models import User

PROXY = "172.30.80.2"
SECURE = {
    "PRINTFAIR_TRUSTED_PROXIES": [ip_network(PROXY)],
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 3600,
    "ALLOWED_HOSTS": ["printfair.example.com"],
}
HOST = "printfair.example.com"


@override_settings(**SECURE)
@pytest.mark.django_db
def test_https_as_the_proxy_says_is_https() -> None:
    page = Client().get(
        "/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=HOST
    )  # fmt: skip
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=3600")
    # and plain HTTP through the proxy is sent to HTTPS
    plain = Client().get(
        "/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="http", HTTP_HOST=HOST
    )
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")


@override_settings(**SECURE)
@pytest.mark.django_db
def test_a_client_that_reaches_the_web_process_directly_cannot_claim_https() -> None:
    page = Client().get(
        "/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST=HOST
    )  # fmt: skip
    assert page.status_code == 301
    assert page.headers["Location"] == "https://printfair.example.com/login/"
    assert "Strict-Transport-Security" not in page.headers


@override_settings(**SECURE)
@pytest.mark.django_db
def test_failed_logins_count_against_the_client_the_proxy_saw_not_one_it_names(
    customer: User,
) -> None:
    wrong = {"username": customer.email, "password": "not-the-password"}
    # through the proxy: the address it appended, the last of the list (the first is the client's
    # own claim)
    Client().post(
        "/login/", wrong, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.7", HTTP_HOST=HOST,
    )  # fmt: skip
    # directly, with a made-up header: the peer's own address
    Client().post(
        "/login/", wrong, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_FOR="198.51.100.8", secure=True, HTTP_HOST=HOST,
    )  # fmt: skip
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "198.51.100.7",
        "203.0.113.9",
    }


@override_settings(**SECURE)
@pytest.mark.django_db
def test_a_malformed_forwarded_header_from_the_proxy_changes_nothing() -> None:
    page = Client().get(
        "/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="gopher",
        HTTP_X_FORWARDED_FOR="not-an-address", HTTP_HOST=HOST,
    )  # fmt: skip
    assert page.status_code == 301  # still plain HTTP: nothing said otherwise


@override_settings(ALLOWED_HOSTS=["printfair.example.com"], SECURE_SSL_REDIRECT=True)
@pytest.mark.django_db
def test_the_health_check_answers_plain_http_from_the_host_itself() -> None:
    answer = Client().get("/healthz", HTTP_HOST=HOST)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "no-cache" in answer.headers["Cache-Control"]
    assert Client().post("/healthz", HTTP_HOST=HOST).status_code == 405
