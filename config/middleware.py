"""Middleware of the whole site."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed, SuspiciousOperation
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


class TrustedProxyMiddleware:
    """Behind a reverse proxy every request's peer is the proxy. What the client used (the
    X-Forwarded-Proto the proxy sets) and who it is (the X-Forwarded-For entry the proxy appended:
    the last) are believed from a peer in PRINTFAIR_TRUSTED_PROXIES and from nobody else, so
    that a client talking to the web process directly can neither pass for HTTPS nor pick the
    address its failed logins are counted against. Not used when no proxy is trusted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.proxies: list[IPv4Network | IPv6Network] = settings.PRINTFAIR_TRUSTED_PROXIES
        if not self.proxies:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self._trusted(request.META.get("REMOTE_ADDR", "")):
            proto = request.META.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                request.META["wsgi.url_scheme"] = proto
            client = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
            if _address(client) is not None:
                request.META["REMOTE_ADDR"] = client
        return self.get_response(request)

    def _trusted(self, peer: str) -> bool:
        address = _address(peer)
        return address is not None and any(address in network for network in self.proxies)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None
