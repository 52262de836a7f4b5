"""What the API promises whatever it is sent (issue 13, items 1, 3 and 8): one error format for
every refusal, bodies bounded in size and depth, ids bounded by their columns, page parameters
checked, one authorization scheme, and an OpenAPI document that lists every error an operation
can answer."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from config.converters import MAX_ID
from marketplace.models import User
from printfair import safejson
from printshops.services import api_key_create

ApiClient = Callable[[User], Client]
BIG_IDS = [str(MAX_ID + 1), "9" * 30]


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error = response.json()["error"]
    assert error["status"] == response.status_code
    return dict(error)


def test_a_body_nested_100000_deep_is_refused_with_the_error_format(
    stranger: User, api_client: ApiClient
) -> None:
    """The attack: any self-registered, unverified shop's key, and one body, once killed the web
    process (and with it the whole stack)."""
    body = "[" * 100_000 + "]" * 100_000
    response = api_client(stranger).put("/api/v1/shop/keys/", body, content_type="application/json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "parse_error"
    assert f"nested more than {safejson.MAX_DEPTH} levels" in error["message"]


def test_a_json_body_over_the_size_limit_is_refused_before_it_is_parsed(
    stranger: User, api_client: ApiClient
) -> None:
    body = json.dumps({"challenge": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    response = api_client(stranger).put("/api/v1/shop/keys/", body, content_type="application/json")
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_multipart_body_with_too_many_fields_answers_in_the_error_format(
    winning_shop: User, api_client: ApiClient
) -> None:
    fields = {f"f{n}": "1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = api_client(winning_shop).post("/api/v1/jobs/1/evidence/", fields)
    assert response.status_code == 400
    assert error_of(response)["code"] == "too_many_fields"


def test_the_api_takes_the_media_types_its_document_names_and_no_other(
    winning_shop: User, api_client: ApiClient
) -> None:
    """A JSON operation documented as `application/json` refuses a form body (it once parsed
    one, undocumented: objects and lists have no agreed form encoding)."""
    for content_type, body in (
        ("application/x-www-form-urlencoded", "part_serial=P-1&kind=shipped"),
        ("multipart/form-data; boundary=x", "--x\r\n--x--\r\n"),
    ):
        response = api_client(winning_shop).post(
            "/api/v1/jobs/1/events/", body, content_type=content_type
        )
        assert response.status_code == 415, (content_type, response.content)
        assert error_of(response)["code"] == "unsupported_media_type"


def test_an_evidence_upload_larger_than_allowed_is_refused_before_it_is_stored(
    winning_shop: User, api_client: ApiClient, stored_files: Callable[[], list[Any]]
) -> None:
    big = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 1024 * 1024))
    big.name = "huge.png"
    response = api_client(winning_shop).post("/api/v1/jobs/1/evidence/", {"file": big})
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert stored_files() == []


def test_a_post_to_an_unknown_api_path_answers_404_in_the_error_format() -> None:
    """Not Django's CSRF page (403, HTML): the API has no sessions to protect."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/nowhere/", {"a": 1})
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert error_of(client.delete("/api/nothing"))["code"] == "not_found"


def test_the_undocumented_api_key_scheme_is_refused(winning_shop: User) -> None:
    _, token = api_key_create(actor=winning_shop, name="k", expires_at=None)
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/jobs/").status_code == 200
    response = Client(HTTP_AUTHORIZATION=f"Api-Key {token}").get("/api/v1/jobs/")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "page_size=null&page_size=null",
        "page_size=abc",
        "page_size=0",
        "page_size=201",
        "page_size=20&page_size=30",
        "page=abc",
        "page=0",
        "page=1&page=2",
        "page=" + "9" * 30,
        "page_size=١٢",  # Arabic-Indic digits: isdigit(), but not a page size
    ],
)
def test_page_parameters_that_are_not_one_whole_number_in_range_are_refused(
    query: str, winning_shop: User, api_client: ApiClient
) -> None:
    response = api_client(winning_shop).get(f"/api/v1/jobs/?{query}")
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "validation_error"


def test_page_parameters_in_range_are_taken(winning_shop: User, api_client: ApiClient) -> None:
    client = api_client(winning_shop)
    assert client.get("/api/v1/jobs/?page_size=200&page=1").status_code == 200
    assert client.get("/api/v1/jobs/?page=2").status_code == 404  # past the last page


@pytest.mark.parametrize("model", [0, 1.5, True, None, ["M"]])
def test_a_string_field_takes_no_other_json_type(
    model: Any, winning_shop: User, api_client: ApiClient
) -> None:
    """The document says string: a number is not taken as its digits (DRF's CharField would)."""
    body = {"make": "Prusa", "model": model, "process": "fdm", "serial": "S-1",
            "build_x_mm": 250, "build_y_mm": 210, "build_z_mm": 220}  # fmt: skip
    response = api_client(winning_shop).post(
        "/api/v1/machines/", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "model" in error_of(response)["fields"]


def test_a_job_filter_beyond_an_id_is_refused_not_a_database_error(
    winning_shop: User, api_client: ApiClient
) -> None:
    client = api_client(winning_shop)
    for value in (*BIG_IDS, "x", "1&job=2"):
        response = client.get(f"/api/v1/releases/?job={value}")
        assert response.status_code == 400, (value, response.content)


def _id_routes() -> list[str]:
    """Every route of ours with a row id in its path, with `{name}` placeholders."""
    found: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern) and "<id:" in text:
                found.append(text)

    walk(get_resolver().url_patterns, "/")
    return found


def test_no_route_takes_an_unbounded_integer() -> None:
    """`<int:…>` matches any number of digits: a 20-digit id reached the database (a 500)."""
    assert _id_routes(), "the routes use the bounded `id` converter"
    text = "".join(str(p.pattern) for p in get_resolver().url_patterns)
    assert "<int:" not in text


@pytest.mark.parametrize("big", BIG_IDS)
def test_an_id_beyond_its_column_is_not_found_for_everyone(
    big: str,
    customer: User,
    winning_shop: User,
    admin_user: User,
    login: Callable[[User | None], Client],
    api_client: ApiClient,
) -> None:
    clients = {
        "anonymous": Client(raise_request_exception=False),
        "customer": login(customer),
        "admin": login(admin_user),
        "shop key": api_client(winning_shop),
    }
    for route in _id_routes():
        path = re.sub(r"<id:\w+>", big, route)
        path = re.sub(r"<uuid:\w+>", "00000000-0000-4000-8000-000000000000", path)
        for who, client in clients.items():
            client.raise_request_exception = False
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                # Not found; or, in the admin, sent to log in or to the admin's own not-found.
                assert response.status_code in (302, 404, 405), (who, method, path, response)


def test_the_openapi_document_is_generated_without_a_warning(tmp_path: Any) -> None:
    """A warning meant a wrong document: every API class's `InputSerializer` was one component,
    so most operations documented another's body."""
    out = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--file",
        str(out),
        "--format",
        "openapi-json",
        "--validate",
        "--fail-on-warn",
    )
    document = json.loads(out.read_text())
    names = set(document["components"]["schemas"])
    assert {"JobBidsInputRequest", "ShopKeysInputRequest", "Error"} <= names


def test_every_operation_documents_the_errors_it_can_answer(client: Client) -> None:
    document = client.get("/api/schema/?format=json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "429", "503"} <= statuses, (method, path)
            if operation.get("security") and {} not in operation["security"]:
                assert {"401", "403"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            if method in ("post", "put"):
                assert {"409", "413", "415"} <= statuses, (method, path)
            error = operation["responses"]["503"]
            assert error["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
            assert "Retry-After" in error["headers"]
    paths = document["paths"]
    assert "201" in paths["/api/v1/jobs/{job_id}/quality/"]["post"]["responses"]
    job_id = paths["/api/v1/jobs/{job_id}/"]["get"]["parameters"][0]["schema"]
    assert job_id == {"type": "integer", "minimum": 0, "maximum": MAX_ID}


@pytest.mark.parametrize(
    "url", ["/api/v1/jobs/1/records/?kind=%00", "/api/v1/jobs/?fits=%00", "/jobs/?query=a%00b"]
)
def test_a_nul_in_a_query_parameter_is_a_malformed_request_not_a_database_error(
    url: str, winning_shop: User, api_client: ApiClient
) -> None:
    """PostgreSQL text holds no NUL: `?kind=%00` reached a filter and answered 500."""
    response = api_client(winning_shop).get(url)
    assert response.status_code == 400
    if url.startswith("/api/"):
        assert error_of(response)["code"] == "bad_request"
