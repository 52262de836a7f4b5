"""Production: everything from the environment; no secret has a default, and a setting left out
or left at the placeholder of `.env.example` stops the start with a message naming it."""

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *

# What .env.example ships: a deployment that copied it without filling it in.
_PLACEHOLDER = re.compile(r"change-me|replace_with", re.IGNORECASE)


def _refuse(setting: str, problem: str) -> None:
    raise ImproperlyConfigured(f"{setting} {problem} (production settings; see .env.example)")


if not SECRET_KEY:
    _refuse("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE)", "must be set")
elif _PLACEHOLDER.search(SECRET_KEY) or len(SECRET_KEY) < 50:
    _refuse("DJANGO_SECRET_KEY", "must be a random string of at least 50 characters")
if not PRINTFAIR_KEKS or PRINTFAIR_KEK_CURRENT not in PRINTFAIR_KEKS:
    _refuse("PRINTFAIR_KEKS", "must hold the current key-encryption key version")
if not CHAIN_OPERATOR_KEY and not CHAIN_OPERATOR_KEYSTORE:
    _refuse("CHAIN_OPERATOR_KEY (or CHAIN_OPERATOR_KEYSTORE)", "must be set")
if CHAIN_OPERATOR_KEY and not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", CHAIN_OPERATOR_KEY):
    _refuse("CHAIN_OPERATOR_KEY", "must be the operator's private key: 64 hex digits")
if CHAIN_ARBITER_KEY and not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", CHAIN_ARBITER_KEY):
    _refuse("CHAIN_ARBITER_KEY", "must be the arbiter's private key: 64 hex digits")
if CHAIN_ARBITER_KEY and CHAIN_ARBITER_KEY.lower().removeprefix("0x") == (
    CHAIN_OPERATOR_KEY.lower().removeprefix("0x")
):
    _refuse("CHAIN_ARBITER_KEY", "must not be the operator's key: the relayer cannot judge")
if CHAIN_OPERATOR_KEYSTORE and not Path(CHAIN_OPERATOR_KEYSTORE).is_file():
    _refuse("CHAIN_OPERATOR_KEYSTORE", f"names no file ({CHAIN_OPERATOR_KEYSTORE})")
if not ALLOWED_HOSTS:
    _refuse("DJANGO_ALLOWED_HOSTS", "must be set")
if not CSRF_TRUSTED_ORIGINS:
    _refuse("DJANGO_CSRF_TRUSTED_ORIGINS", "must name the site's origin, e.g. https://host")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith("https://"):
        _refuse("DJANGO_CSRF_TRUSTED_ORIGINS", f"must be https:// origins ({_origin!r} is not)")
if not env.str("DATABASE_URL", default="").startswith(("postgres://", "postgresql://")):
    # Not the SQLite file base.py falls back to for development: it would live and die inside
    # one container.
    _refuse("DATABASE_URL", "must name the PostgreSQL database (postgres://…)")
for _chain_setting in ("CHAIN_RPC_URL", "CHAIN_ID"):
    # Their defaults are a development chain's: a deployment names its own.
    if not env.str(_chain_setting, default=""):
        _refuse(_chain_setting, "must be set (the chain node and its chain id)")
if _PLACEHOLDER.search(DATABASES["default"].get("PASSWORD") or ""):
    _refuse("DATABASE_PASSWORD", "must be the database's password, not the example's")
if _PLACEHOLDER.search(EMAIL_URL):
    _refuse("EMAIL_URL", "must name the real mail server, not the example's")
if not EMAIL_URL:
    # Sign-ups are confirmed by mail: without a mail server nobody could join.
    _refuse("EMAIL_URL", "must name the mail server, e.g. smtp+tls://user:password@host:587")
if not REDIS_URL:
    # The API's rate limit and the Celery broker must be shared by every process; without Redis
    # each web worker would count on its own.
    _refuse("REDIS_URL", "must name the Redis server (cache and Celery broker)")

# HTTPS as the client used it: from the proxies in PRINTFAIR_TRUSTED_PROXIES alone
# (config.middleware.TrustedProxyMiddleware), not Django's SECURE_PROXY_SSL_HEADER, which would
# believe the header from anyone who can reach the web process.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRINTFAIR_FAUCET:
    _refuse("PRINTFAIR_FAUCET", "mints test money: local chains only")
