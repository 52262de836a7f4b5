"""The shop API: open jobs only, filters, pagination, the error format and key handling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketplace.catalog import Material, Process
from marketplace.models import Job, Membership, User
from marketplace.services import design_file_attach
from marketplace.uploads import encrypt_chunks
from printshops.authentication import ApiKeyRateThrottle
from printshops.models import ApiKey
from printshops.services import api_key_create, api_key_revoke
from tests import factories

ApiClient = Callable[[User], Client]


def open_job(customer: User, **fields: Any) -> Job:
    return factories.JobFactory.create(created_by=customer, status=Job.Status.OPEN, **fields)


def test_lists_open_jobs_only(
    customer: User, other_customer: User, winning_shop: User, api_client: ApiClient
) -> None:
    # given
    mine = open_job(customer, title="Open one")
    open_job(other_customer, title="Open two")
    factories.JobFactory.create(created_by=customer, title="A draft")
    factories.JobFactory.create(created_by=customer, title="Cancelled", status=Job.Status.CANCELLED)
    open_job(
        customer,
        title="Bidding closed",
        commit_deadline=timezone.now() - timedelta(minutes=1),
        reveal_deadline=timezone.now() + timedelta(hours=1),
    )
    # when
    response = api_client(winning_shop).get(reverse("api_job_list"))
    # then
    assert response.status_code == 200
    body = response.json()
    assert {job["title"] for job in body["results"]} == {"Open one", "Open two"}
    assert body["count"] == 2
    first = next(job for job in body["results"] if job["id"] == mine.pk)
    assert first["process"] == mine.process and first["quantity"] == mine.quantity
    assert "organization" not in first and "description" not in first


def test_detail_gives_spec_geometry_and_hashes_never_contents(
    customer: User, winning_shop: User, api_client: ApiClient, testdata: Any
) -> None:
    job = factories.JobFactory.create(created_by=customer)
    data = (testdata / "stl" / "rear_case_binary.stl").read_bytes()
    design_file = design_file_attach(
        actor=customer, job=job, upload=encrypt_chunks("case.stl", [data])
    )
    Job.objects.filter(pk=job.pk).update(status=Job.Status.OPEN)
    response = api_client(winning_shop).get(reverse("api_job_detail", args=[job.pk]))
    assert response.status_code == 200
    body = response.json()
    assert body["description"] == job.description
    [file] = body["files"]
    assert file["sha256"] == design_file.sha256
    assert file["triangle_count"] == design_file.triangle_count
    assert design_file.size_mm is not None
    assert file["size_mm"] == pytest.approx(list(design_file.size_mm), abs=0.0005)
    assert set(file) == {
        "id",
        "original_name",
        "kind",
        "size_bytes",
        "sha256",
        "triangle_count",
        "size_mm",
        "volume_cm3",
        "watertight",
        "consistently_wound",
    }
    assert file["volume_cm3"] == pytest.approx(design_file.volume_cm3, abs=0.0005)
    assert (file["watertight"], file["consistently_wound"]) == (True, True)
    envelope = sorted(design_file.size_mm, reverse=True)
    assert body["envelope_mm"] == pytest.approx(envelope, abs=0.0005)
    # ... lengths to the micrometre and volumes to the mm³, without floating-point noise; the
    # reserve price as the CLI shows amounts (the factory's 500, stored to six places)
    lengths = [*file["size_mm"], *body["envelope_mm"], file["volume_cm3"]]
    assert all(str(x) == str(round(x, 3)) for x in lengths) and len(str(lengths)) < 120
    assert body["reserve_price"] == "500.00"


def test_detail_of_a_draft_is_not_found(
    customer: User, winning_shop: User, api_client: ApiClient
) -> None:
    job = factories.JobFactory.create(created_by=customer)
    response = api_client(winning_shop).get(reverse("api_job_detail", args=[job.pk]))
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "No Job matches the given query."}
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("process=fdm", {"fdm-pla"}),
        ("material=pa12", {"sls-pa12", "mjf-pa12"}),
        ("process=sls&material=pa12", {"sls-pa12"}),
        ("deadline_before=2099-01-10", {"fdm-pla"}),
    ],
)
def test_filters(
    customer: User, winning_shop: User, api_client: ApiClient, query: str, expected: set[str]
) -> None:
    from datetime import date

    open_job(
        customer,
        title="fdm-pla",
        process=Process.FDM,
        material=Material.PLA,
        needed_by=date(2099, 1, 5),
    )
    open_job(
        customer,
        title="sls-pa12",
        process=Process.SLS,
        material=Material.PA12,
        needed_by=date(2099, 2, 1),
    )
    open_job(
        customer,
        title="mjf-pa12",
        process=Process.MJF,
        material=Material.PA12,
        needed_by=date(2099, 3, 1),
    )
    response = api_client(winning_shop).get(f"{reverse('api_job_list')}?{query}")
    assert response.status_code == 200
    assert {job["title"] for job in response.json()["results"]} == expected


def test_fits_filter_allows_any_axis_aligned_orientation(
    customer: User, winning_shop: User, api_client: ApiClient
) -> None:
    open_job(customer, title="long", envelope_a_mm=400.0, envelope_b_mm=50.0, envelope_c_mm=20.0)
    open_job(customer, title="cube", envelope_a_mm=200.0, envelope_b_mm=200.0, envelope_c_mm=200.0)
    client = api_client(winning_shop)
    url = reverse("api_job_list")
    assert {j["title"] for j in client.get(f"{url}?fits=50x410x30").json()["results"]} == {"long"}
    assert {j["title"] for j in client.get(f"{url}?fits=250x250x250").json()["results"]} == {"cube"}
    assert {j["title"] for j in client.get(f"{url}?fits=500x250x250").json()["results"]} == {
        "long",
        "cube",
    }
    bad = client.get(f"{url}?fits=big")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    assert "fits" in bad.json()["error"]["fields"]


def test_unknown_filter_value_uses_the_error_format(
    winning_shop: User, api_client: ApiClient
) -> None:
    response = api_client(winning_shop).get(f"{reverse('api_job_list')}?process=knitting")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["process"]


def test_an_empty_filter_value_is_refused_not_ignored(
    winning_shop: User, api_client: ApiClient
) -> None:
    """Schemathesis found `?material=&process=` answered with every job: no material is empty."""
    response = api_client(winning_shop).get(f"{reverse('api_job_list')}?material=&process=")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"material", "process"}


def test_pagination(customer: User, winning_shop: User, api_client: ApiClient) -> None:
    for n in range(7):
        open_job(customer, title=f"job {n}")
    client = api_client(winning_shop)
    first = client.get(f"{reverse('api_job_list')}?page_size=5").json()
    assert first["count"] == 7 and len(first["results"]) == 5 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer nonsense", "Malformed API key."),
        ("Bearer pf_000000000000_wrong", "Unknown API key."),
    ],
)
def test_authentication_errors(db: None, header: str | None, message: str) -> None:
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = client.get(reverse("api_job_list"))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == message
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_and_expired_keys_are_refused(winning_shop: User) -> None:
    key, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(reverse("api_job_list")).status_code == 200
    api_key_revoke(actor=winning_shop, api_key=key)
    assert (
        client.get(reverse("api_job_list")).json()["error"]["message"]
        == "This API key has been revoked."
    )
    key2, token2 = api_key_create(
        actor=winning_shop, name="k2", expires_at=timezone.now() + timedelta(hours=1)
    )
    ApiKey.objects.filter(pk=key2.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token2}").get(reverse("api_job_list"))
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_a_key_of_a_member_who_left_the_organisation_is_refused(
    winning_shop: User, customer: User
) -> None:
    _, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(reverse("api_job_list")).status_code == 200
    Membership.objects.filter(user=winning_shop).update(organization=customer.organization)
    response = client.get(reverse("api_job_list"))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "The member who created this key is no longer in its organisation."
    )


def test_each_key_is_held_to_its_rate_and_told_when_to_retry(
    winning_shop: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/min"})
    clock = [6_000.0]  # a minute's window starts here
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(lambda: clock[0]))
    first, second = (
        Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        for _, token in (
            api_key_create(actor=winning_shop, name=name, expires_at=None)
            for name in ("first", "second")
        )
    )
    assert [first.get(reverse("api_job_list")).status_code for _ in range(3)] == [200] * 3
    refused = first.get(reverse("api_job_list"))
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert refused.json()["error"]["code"] == "throttled"
    clock[0] += 30.5
    refused = first.get(reverse("api_job_list"))
    assert refused.status_code == 429 and refused["Retry-After"] == "30"
    assert "Expected available in 30 seconds" in refused.json()["error"]["message"]
    # another key has its own count; the next window starts afresh
    assert second.get(reverse("api_job_list")).status_code == 200
    clock[0] += 29.5
    assert first.get(reverse("api_job_list")).status_code == 200


def test_keys_are_stored_hashed(winning_shop: User) -> None:
    key, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    secret = token.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())


def test_unverified_shop_is_refused_with_a_reason(stranger: User, api_client: ApiClient) -> None:
    response = api_client(stranger).get(reverse("api_job_list"))
    assert response.status_code == 403
    assert "not verified" in response.json()["error"]["message"]


def test_key_without_the_scope_is_refused(winning_shop: User) -> None:
    _, token = api_key_create(actor=winning_shop, name="k", expires_at=None, scopes=[])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(reverse("api_job_list"))
    assert response.status_code == 403
    assert "scope" in response.json()["error"]["message"]


def test_unknown_api_path_answers_in_the_error_format(db: None) -> None:
    response = Client().get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_openapi_schema_and_docs(db: None) -> None:
    schema = Client().get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = schema.json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/jobs/" in spec["paths"] and "/api/v1/jobs/{job_id}/" in spec["paths"]
    parameters = {p["name"] for p in spec["paths"]["/api/v1/jobs/"]["get"]["parameters"]}
    assert {"process", "material", "fits", "deadline_before", "page"} <= parameters
    docs = Client().get(reverse("api_docs"))
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()
