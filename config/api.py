"""API conventions shared by every endpoint: one error format and the pagination."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def error_body(status_code: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    """The API's one error format: {"error": {"status", "code", "message", "fields"}}."""
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(
            error_body(exc.status, exc.code, exc.message, exc.fields), status=exc.status
        )
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


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error format, not with an HTML page."""
    return JsonResponse(error_body(404, "not_found", "No such endpoint."), status=404)
