"""Middleware of the whole site."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponseBase


class RefuseNulMiddleware:
    """PostgreSQL text can hold no NUL character: a query parameter with one ("?kind=%00") that
    reaches a filter is a database error (500). Refused here, before any view, as a malformed
    request (400; in the API's format under /api/, config/api.py). Bodies need no such check:
    forms and serializers refuse NUL in every text field."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if any("\x00" in key or "\x00" in "".join(values) for key, values in request.GET.lists()):
            raise SuspiciousOperation("A query parameter holds a NUL character.")
        return self.get_response(request)
