"""API conventions shared by every endpoint: one error format, bounded JSON bodies, pagination
with checked parameters, and error pages that answer /api/ paths in the API's format."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.csrf import csrf_failure as html_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant

from config.converters import MAX_ID
from config.errors import DomainError
from printfair import safejson
from printfair.amounts import format_amount

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=serializers.BaseSerializer)  # type: ignore[type-arg]

API_PREFIX = "/api/"
#: What a multipart body adds around the files in it (boundaries, part headers, small fields).
MULTIPART_OVERHEAD = 64 * 1024


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class Text(serializers.CharField):
    """A string field that takes strings only. DRF's CharField also takes a number and stores
    its digits, where the OpenAPI document says `type: string`: a client sending 0 for a model
    name would be accepted against its own contract (Schemathesis, ST201)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Amount(serializers.DecimalField):
    """An amount in currency units, as the CLI shows it: at least two decimals and no trailing
    zeros beyond (`"1500.00"`, `"0.12345"`; DRF would give every decimal place of the column,
    `"1500.000000"`)."""

    def to_representation(self, value: Any) -> str:
        return format_amount(str(super().to_representation(value)), grouping=False)


class Pattern(serializers.RegexField):
    """`Text` for a string that must match a regular expression."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Reused(Generic[S]):
    """One instance of a serializer class a thread, for a hot endpoint's body and answer.

    DRF builds a serializer's fields when an instance first needs them: it deep-copies the
    declared ones, and a ModelSerializer reads its model for the others. An endpoint that makes
    a serializer for each request builds them again every time: on a quality record that was a
    fifth of the request (py-spy). Each thread here builds them once and keeps them.

    `check` validates a body as `is_valid(raise_exception=True)` does, and refuses one the same
    way (a body that fails is validated again by a new instance, whose errors are the API's
    400). `show` renders an instance with `context` (the request, for absolute URLs), which it
    sets for that call only: the serializer keeps nothing of a request between calls."""

    def __init__(self, serializer_class: type[S]) -> None:
        self._class = serializer_class
        self._local = threading.local()

    def _serializer(self) -> S:
        serializer: S | None = getattr(self._local, "serializer", None)
        if serializer is None:
            serializer = self._local.serializer = self._class()
        return serializer

    @property
    def fields(self) -> Mapping[str, serializers.Field[Any, Any, Any, Any]]:
        return self._serializer().fields  # type: ignore[attr-defined, no-any-return]

    def check(self, data: Any) -> Any:
        """The validated data of `data`; ValidationError (a 400) as a new instance gives it."""
        try:
            return self._serializer().run_validation(data)
        except exceptions.ValidationError:
            self._class(data=data).is_valid(raise_exception=True)
            raise

    def show(self, instance: Any, context: dict[str, Any] | None = None) -> Any:
        """`instance` as `serializer_class(instance, context=context).data` shows it."""
        serializer = self._serializer()
        # DRF keeps a serializer's context there, and its fields read it from their root.
        serializer._context = {} if context is None else context
        try:
            return serializer.to_representation(instance)
        finally:
            serializer._context = {}


def answered_in_its_transaction(view: Callable[P, R]) -> Callable[P, R]:
    """For a write that is not idempotent (a new record, a print ticket): the answer is made in
    the transaction that writes, so that if anything fails before the answer is ready (the
    database going away while the record is read back) the write is rolled back too, and a 503
    means it was not done: the client may send it again without doubling it."""
    return transaction.atomic(view)


def declared_body_size(request: Any) -> int:
    """The body's size as the client declared it (Content-Length: Django reads no more)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def refuse_body_over(request: Any, limit: int) -> None:
    """Refuse (413) a body declared larger than `limit` before a byte of it is read: a file
    upload is spooled to disk whole before any view could look at its size."""
    if declared_body_size(request) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")


def body_limit() -> int:
    """The largest request body the API parses (file uploads aside): Django's own limit for
    form bodies, which DRF does not apply to JSON."""
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the body's size and nesting bounded (printfair/safejson.py): DRF
    reads a JSON body whole, whatever its size, and parses it at any depth."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = body_limit()
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return safejson.loads(body.decode(encoding), parse_constant=strict_constant)
        except ValueError as exc:  # malformed, too deep, or not in the declared encoding
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


#: The highest page number asked for that is read as one (a page past the last is a 404).
PAGE_NUMBER_MAX = 999_999_999


class Pagination(PageNumberPagination):
    """Pages of 50 by default. A page or page size that is not one positive whole number is
    refused (DRF would quietly use the default), so a client's mistake does not pass unseen."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def _number(self, request: Any, name: str, maximum: int | None = None) -> int | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        value, top = values[0], maximum or PAGE_NUMBER_MAX
        if len(values) > 1 or not (value.isascii() and value.isdigit()):
            problem = "Give it once, as a whole number."
        elif len(value) > len(str(top)) or not 1 <= int(value) <= top:
            problem = f"From 1 to {top}."
        else:
            return int(value)
        raise exceptions.ValidationError({name: [problem]})

    def get_page_size(self, request: Any) -> int:
        return self._number(request, "page_size", self.max_page_size) or self.page_size

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        return self._number(request, "page") or 1

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            bounds = {"minimum": 1, "maximum": PAGE_NUMBER_MAX}
            if parameter["name"] == "page_size":
                bounds["maximum"] = self.max_page_size
            parameter["schema"].update(bounds)
        return parameters


def query_id(request: Any, name: str) -> int | None:
    """An optional row id in the query string (`?job=42`): None if absent; a 400 naming it if it
    is not one whole number within a 64-bit id's range (config/converters.py)."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    value = values[0]
    if len(values) == 1 and value.isascii() and value.isdigit() and int(value) <= MAX_ID:
        return int(value)
    raise exceptions.ValidationError({name: ["Give one id: a whole number."]})


#: The OpenAPI description of `?job=`, as query_id reads it.
JOB_ID_PARAMETER = OpenApiParameter(
    "job", {"type": "integer", "minimum": 0, "maximum": MAX_ID}, description="Only this job's"
)


def error_body(status_code: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    """The API's one error format: {"error": {"status", "code", "message", "fields"}}."""
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        refusal = Response(
            error_body(exc.status, exc.code, exc.message, exc.fields), status=exc.status
        )
        if exc.retry_after is not None:
            refusal["Retry-After"] = str(exc.retry_after)
        return refusal
    if isinstance(exc, SuspiciousOperation):
        # Django's own bounds on form and multipart bodies (DATA_UPLOAD_MAX_*), hit while DRF
        # parses: the client's mistake, in the API's format rather than Django's HTML page.
        status_code, code, message = _suspicious(exc)
        return Response(error_body(status_code, code, message), status=status_code)
    # Imported here, not at the top: rest_framework.views reads DEFAULT_PARSER_CLASSES while it
    # loads, which names this module's JSONParser, so importing it from here at load time fails
    # whenever this module is the first of the two to load (Django runs its checks in no fixed
    # order, and the CSRF failure view check loads this module).
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handling and logging take over
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body(
            response.status_code, "validation_error", "The request has invalid fields.", fields
        )
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        codes = exc.get_codes()
        response.data = error_body(
            response.status_code,
            codes if isinstance(codes, str) else "error",
            str(detail),
        )
    else:  # Http404 and PermissionDenied from Django
        code = (
            "not_found"
            if response.status_code == status.HTTP_404_NOT_FOUND
            else "permission_denied"
        )
        response.data = error_body(response.status_code, code, str(response.data.get("detail", "")))
    return response


def _suspicious(exc: SuspiciousOperation) -> tuple[int, str, str]:
    if isinstance(exc, RequestDataTooBig):
        return 413, "payload_too_large", f"The request body is larger than {body_limit():,} bytes."
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return 400, "too_many_fields", "The request has too many fields or files."
    return 400, "bad_request", "The request is malformed."


# --- error pages ------------------------------------------------------------------------------
# What Django answers itself (before or outside DRF: an unknown path, a body over its limits, a
# CSRF refusal, an unexpected error) answers /api/ paths in the API's error format too.


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _api_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code)


@csrf_exempt
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error format, whatever the method."""
    return _api_error(404, "not_found", "No such endpoint.")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        if isinstance(exception, SuspiciousOperation):
            return _api_error(*_suspicious(exception))
        return _api_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error(403, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return _api_error(404, "not_found", "No such endpoint.")
    return defaults.page_not_found(request, exception)


#: Seconds a client is asked to wait when the database did not answer.
DATABASE_RETRY_AFTER = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """An exception nothing handled. One that says the database did not answer (restarting, a
    connection lost, SQLite's lock held too long) is not our bug but a moment's outage: 503 with
    Retry-After, so clients wait and try again. Called while the exception is being handled, from
    the view or any middleware, so it sees them all. The page needs no database."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return service_unavailable(
            request,
            "The database is not answering just now.",
            retry_after=DATABASE_RETRY_AFTER,
            code="database_unavailable",
        )
    if _is_api(request):
        return _api_error(500, "server_error", "Something went wrong on our side; try again.")
    return defaults.server_error(request)


def service_unavailable(
    request: HttpRequest, message: str, *, retry_after: int, code: str
) -> HttpResponse:
    """503 with Retry-After: in the API's format under /api/, else a page that needs no
    database (no context processors run)."""
    response: HttpResponse
    if _is_api(request):
        response = _api_error(503, code, f"{message} Try again in {retry_after} seconds.")
    else:
        page = loader.get_template("503.html").render(
            {"message": message, "retry_after": retry_after}
        )
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return _api_error(403, "csrf_failed", "Authenticate with an API key, not a session.")
    return html_csrf_failure(request, reason)
