"""API-key authentication for print shops: `Authorization: Bearer pf_<prefix>_<secret>`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import OperationalError
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from printshops.models import ApiKey

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "pf"  # noqa: S105 - a label, not a secret
# last_used_at is informative; writing it on every request would make each call a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A new key: (token shown once, public prefix, secret hash to store)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}_{prefix}_{secret}", prefix, hash_secret(secret)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, token = header.partition(" ")
        if keyword.lower() != "bearer":
            return None
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        _, prefix, secret = parts
        key = (
            ApiKey.objects.select_related("organization__shop_profile", "created_by__membership")
            .filter(prefix=prefix)
            .first()
        )
        if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
            raise exceptions.AuthenticationFailed("Unknown API key.")
        now = timezone.now()
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
            _note_use(key, now)
        user = key.created_by
        membership = getattr(user, "membership", None)
        if user is None or not user.is_active or membership is None:
            raise exceptions.AuthenticationFailed(
                "The member who created this key is no longer active."
            )
        if membership.organization_id != key.organization_id:
            raise exceptions.AuthenticationFailed(
                "The member who created this key is no longer in its organisation."
            )
        # The services ask the user for its organisation: it is the one loaded with the key.
        membership.organization = key.organization
        return user, key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


def _note_use(key: ApiKey, now: datetime) -> None:
    """Record when the key was last used: informative, so a database too busy to take the write
    just now (SQLite's lock held by a worker) skips it rather than failing the request."""
    try:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    except OperationalError:
        logger.warning("could not record the use of API key %s just now", key.prefix)


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (per client address for anonymous calls), counted in fixed windows
    of the rate's period by one atomic cache increment per request.

    DRF's SimpleRateThrottle keeps the time of every request in the window as one cached list
    that each request reads and writes back whole: its cost grows with the rate (bench/records.py
    saw every request slow down as the list grew), and concurrent requests overwrite each other's
    entries, so it lets through more than the rate. A counter costs the same at any rate and
    counts every request. The price of fixed windows: a client may send up to twice the rate
    across a window's end."""

    scope = "api_key"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        ident = key.prefix if isinstance(key, ApiKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        limit, duration = self.parse_rate(self.rate)
        ident = self.get_cache_key(request, view)
        if limit is None or duration is None or ident is None:
            return True
        window = int(self.timer() // duration)
        self.window_ends = float((window + 1) * duration)
        counter = f"{ident}:{window}"
        try:
            try:
                count = self.cache.incr(counter)
            except ValueError:  # the window's first request (incr needs an existing key)
                # add() loses to a concurrent first request: then that one's counter exists.
                fresh = self.cache.add(counter, 1, timeout=duration + 1)
                count = 1 if fresh else self.cache.incr(counter)
        except (ConnectionError, OSError, RedisError):
            # The shared cache is down: the limit cannot be counted. Requests go through (and
            # are logged) rather than every API call failing while Redis restarts.
            logger.warning("the rate limit's cache is unavailable: not counting %s", ident)
            return True
        return count <= limit

    def wait(self) -> float:
        """Seconds until the window ends (DRF sends it as Retry-After)."""
        return max(self.window_ends - self.timer(), 0.0)


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """How the OpenAPI schema (and Swagger UI's Authorize button) describes our API keys."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pf_<prefix>_<secret>",
            "description": "An API key from the shop's API keys page.",
        }
