"""Production: everything from the environment; no secret has a default."""

from django.core.exceptions import ImproperlyConfigured

from .base import *

if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set")
if not PRINTFAIR_KEKS or PRINTFAIR_KEK_CURRENT not in PRINTFAIR_KEKS:
    raise ImproperlyConfigured("PRINTFAIR_KEKS must hold the current key-encryption key version")
if not CHAIN_OPERATOR_KEY and not CHAIN_OPERATOR_KEYSTORE:
    raise ImproperlyConfigured("CHAIN_OPERATOR_KEY (or CHAIN_OPERATOR_KEYSTORE) must be set")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
if PRINTFAIR_FAUCET:
    raise ImproperlyConfigured("PRINTFAIR_FAUCET mints test money: local chains only")
