"""Settings shared by every environment. Everything that varies comes from the environment.

Parsers fail loudly on bad values (django-environ raises on an unparsable bool, int or URL), and
anything secret has no default here: local.py and test.py supply development values, production
requires them.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(environ.Env().str("PRINTFAIR_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# Development and tests read a `.env` at the project root; production reads a file only when
# ENV_FILE names one: a deployment's settings are its environment, not whatever file was left
# next to the code. (*_FILE variants: a container secret mounted as a file wins over the plain
# variable, see env_secret.)
_ENV_FILE = env.str("ENV_FILE", default="")
if not _ENV_FILE and not env.str("DJANGO_SETTINGS_MODULE", default="").endswith(".production"):
    _ENV_FILE = str(BASE_DIR / ".env")
if _ENV_FILE:
    environ.Env.read_env(_ENV_FILE, overwrite=False)


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    value = env.str(name, default=default)
    return None if value is None else str(value)


DEBUG = env.bool("DJANGO_DEBUG", default=False)


def ip_networks(name: str) -> list[IPv4Network | IPv6Network]:
    """A comma-separated list of addresses or networks (CIDR), refused whole if one is neither."""
    networks = []
    for entry in env.list(name, default=[]):
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {entry!r} is not an IP address or network"
            ) from None
    return networks


# The reverse proxies in front of the web processes (Caddy in docker-compose.yml): only from
# them are X-Forwarded-Proto and X-Forwarded-For believed. Nobody's by default.
PRINTFAIR_TRUSTED_PROXIES = ip_networks("PRINTFAIR_TRUSTED_PROXIES")
SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Where links in e-mail sent outside a request point (marketplace/notifications.py): the site's
# first trusted origin unless given.
PRINTFAIR_SITE_URL = env.str(
    "PRINTFAIR_SITE_URL",
    default=CSRF_TRUSTED_ORIGINS[0] if CSRF_TRUSTED_ORIGINS else "http://127.0.0.1:8000",
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "marketplace",
    "printshops",
    "machines",
    "ledger",
]

MIDDLEWARE = [
    # First: the scheme and client address every later part sees (HTTPS redirect, lockouts).
    "config.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes documents: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
# The health check answers plain HTTP: the container's checker talks to the process directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Refusals Django makes itself answer /api/ paths in the API's error format (config/api.py).
CSRF_FAILURE_VIEW = "config.api.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.context_processors.organization",
            ],
        },
    },
]

# DATABASE_URL selects PostgreSQL (psycopg 3) in CI and production; SQLite under var/ otherwise.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The password may come apart from the URL (a container secret), so that the URL carries none.
if _database_password := env_secret("DATABASE_PASSWORD", default=""):
    DATABASES["default"]["PASSWORD"] = _database_password
# A connection per thread, kept between requests (opening one costs the web process a few
# milliseconds and PostgreSQL a new backend process); checked before a request reuses it, so a
# database that restarted costs no request an error.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True


def sqlite_options() -> dict[str, object]:
    """SQLite for several processes at once (`make run`'s web, workers and beat): write-ahead
    logging, so readers never wait for the writer; write transactions that take the lock when
    they begin (IMMEDIATE), so two of them queue instead of one failing on its first write with
    "database is locked"; and a wait of up to 20 s for the lock. No transaction holds it across
    a call to the chain node (ledger/services/sender/signing.py), so the wait stays short."""
    return {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        **sqlite_options(),
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "marketplace.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

# --- Login throttling (django-axes) -------------------------------------------------------
# Axes' backend comes first: it refuses a locked-out (e-mail, IP) pair before any password is
# checked; ModelBackend then does the real work. Every authenticate() must pass the request
# (Django's login views and the admin do; Client.login in tests does not: use force_login).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures are counted per (e-mail, client IP) pair, in the database, so every web process
# shares them (on SQLite and PostgreSQL alike). Per pair rather than per e-mail alone: a
# stranger guessing at someone's address cannot lock its owner out from their own network.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Five wrong passwords in a row (a typo or two, then a forgotten password) lock the pair out for
# 15 minutes; a guess made meanwhile starts the wait again, and a success clears the count.
AXES_FAILURE_LIMIT = env.int("PRINTFAIR_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("PRINTFAIR_LOGIN_COOLOFF_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
# The login form and the admin both post the e-mail as "username" (USERNAME_FIELD is "email").
AXES_USERNAME_FORM_FIELD = "username"
# The same page, in the site's look, whether or not the address has an account.
AXES_LOCKOUT_CALLABLE = "marketplace.views.accounts.login_locked_out"
# The client IP is REMOTE_ADDR (django-ipware is not installed): behind a reverse proxy named in
# PRINTFAIR_TRUSTED_PROXIES, the address the proxy saw (config.middleware.TrustedProxyMiddleware).

# --- E-mail -------------------------------------------------------------------------------
# Sign-up confirmations and password resets go out through the server EMAIL_URL names
# (smtp+tls://user:password@host:587, django-environ's form, or in a file EMAIL_URL_FILE names;
# production requires it); local.py prints mail to the console instead. A mail server that does
# not answer fails the sending within EMAIL_TIMEOUT seconds: someone is waiting for the page.
# (vars().update is how django-environ documents it; an empty EMAIL_URL, as docker-compose passes
# one left unset, means the default.)
EMAIL_URL = env_secret("EMAIL_URL", default="") or ""
vars().update(env.email_url_config(EMAIL_URL or "smtp://localhost:25"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = (
    env.str("DEFAULT_FROM_EMAIL", default="") or "PrintFair <no-reply@printfair.local>"
)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end packages come from npm (package-lock.json) and are served locally, no CDN: the files
# of them the pages use, under vendor/ (config/staticfiles.py).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.staticfiles.NpmFileFinder",
]
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    # Only ciphertext ever reaches this storage (see marketplace/uploads.py).
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    },
    # Compressed, and named by their content's hash (collectstatic, at the image's build or by
    # `make run`): whitenoise serves a hashed name as immutable, cacheable for ten years.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Ciphertext being received is written next to its final place so that saving is a rename.
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=str(Path(MEDIA_ROOT) / "incoming"))
# Django's two handlers, the large files' one making that folder if it went (config/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "config.uploads.TemporaryFileUploadHandler",
]
FILE_UPLOAD_PERMISSIONS = 0o640

REDIS_URL = env.str("REDIS_URL", default="")
# The cache backs API throttling; it must be shared by every web process in production.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # A Redis that stops answering fails a request's cache call within seconds.
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Design files -------------------------------------------------------------------------
PRINTFAIR_MAX_UPLOAD_BYTES = env.int("PRINTFAIR_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# Limits on inspecting one design file while it uploads; the defaults and the measurements
# behind them are in printfair/geometry/__init__.py. A 3MF is a zip: what it may expand to, and
# how many vertices and triangles its meshes may hold; any file: the processor time it may take.
PRINTFAIR_MAX_3MF_UNCOMPRESSED_BYTES = env.int(
    "PRINTFAIR_MAX_3MF_UNCOMPRESSED_BYTES", default=512 * 1024 * 1024
)
PRINTFAIR_MAX_3MF_MESH_ELEMENTS = env.int("PRINTFAIR_MAX_3MF_MESH_ELEMENTS", default=12_000_000)
PRINTFAIR_MAX_INSPECTION_CPU_SECONDS = env.float(
    "PRINTFAIR_MAX_INSPECTION_CPU_SECONDS", default=60.0
)
# STLs of more facets than this are measured without checking that they are closed.
PRINTFAIR_MAX_STL_CHECKED_TRIANGLES = env.int(
    "PRINTFAIR_MAX_STL_CHECKED_TRIANGLES", default=500_000
)
PRINTFAIR_MAX_FILES_PER_JOB = env.int("PRINTFAIR_MAX_FILES_PER_JOB", default=20)


def parse_keks(raw: str) -> dict[int, bytes]:
    """Parse key-encryption keys: "1:<base64 32 bytes>,2:<base64 32 bytes>"."""
    keks: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        version, _, encoded = item.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
            number = int(version)
        except (ValueError, binascii.Error) as exc:
            raise ImproperlyConfigured(
                f"PRINTFAIR_KEKS: bad entry for version {version!r}"
            ) from exc
        if len(key) != 32 or number < 1:
            raise ImproperlyConfigured(f"PRINTFAIR_KEKS: version {number} must be 32 bytes")
        keks[number] = key
    return keks


# Versioned key-encryption keys wrap every file's data key. Never stored in the database.
PRINTFAIR_KEKS = parse_keks(env_secret("PRINTFAIR_KEKS", default="") or "")
PRINTFAIR_KEK_CURRENT = env.int("PRINTFAIR_KEK_CURRENT", default=max(PRINTFAIR_KEKS, default=0))

# --- Chain (DESIGN.md section 4) -----------------------------------------------------------
CHAIN_RPC_URL = env.str("CHAIN_RPC_URL", default="http://127.0.0.1:8545")
CHAIN_ID = env.int("CHAIN_ID", default=31337)
# eip1559 (London and later), legacy (gasPrice), or free (permissioned networks with zero gas).
CHAIN_FEE_MODE = env.str("CHAIN_FEE_MODE", default="eip1559")
# "finalized" uses the node's finalized tag; "depth:N" treats N confirmations as final.
CHAIN_FINALITY = env.str("CHAIN_FINALITY", default="depth:2")
CHAIN_MAX_LOG_RANGE = env.int("CHAIN_MAX_LOG_RANGE", default=2_000)
CHAIN_POA = env.bool("CHAIN_POA", default=False)
CHAIN_RPC_TIMEOUT = env.float("CHAIN_RPC_TIMEOUT", default=10.0)
# Chain calls made while a person waits (a page, an API answer) get one try within this many
# seconds; after one fails, such calls fail at once for CHAIN_UNREACHABLE_BACKOFF seconds (the
# Retry-After PrintFair answers with) rather than each waiting out the timeout.
CHAIN_REQUEST_TIMEOUT = env.float("CHAIN_REQUEST_TIMEOUT", default=3.0)
CHAIN_UNREACHABLE_BACKOFF = env.int("CHAIN_UNREACHABLE_BACKOFF", default=15)
# A JSON-RPC endpoint PrintFair tells clients to check the chain with (GET /api/v1/chain/):
# any node of the chain will do, and clients may use their own.
CHAIN_PUBLIC_RPC_URL = env.str("CHAIN_PUBLIC_RPC_URL", default="") or CHAIN_RPC_URL
# Seconds by which an auction's deadlines on chain trail the ones PrintFair shows and its API
# enforces: a bid or reveal the API accepts just before its deadline is still relayed and mined
# in time (DESIGN.md section 4).
CHAIN_RELAY_MARGIN = env.int("CHAIN_RELAY_MARGIN", default=120)
# The operator (relayer) key: hex in the environment or a file, or an encrypted keystore file.
CHAIN_OPERATOR_KEY = env_secret("CHAIN_OPERATOR_KEY", default="") or ""
CHAIN_OPERATOR_KEYSTORE = env.str("CHAIN_OPERATOR_KEYSTORE", default="")
CHAIN_OPERATOR_KEYSTORE_PASSWORD = env_secret("CHAIN_OPERATOR_KEYSTORE_PASSWORD", default="") or ""
# The arbiter's key (hex in the environment or a file): it resolves disputes, and the contract
# refuses to give its role to the operator (docs/operations.md, "Roles and keys").
CHAIN_ARBITER_KEY = env_secret("CHAIN_ARBITER_KEY", default="") or ""
# Seconds between starting and accepting a move of the AuctionHouse's admin role (two steps).
CHAIN_ADMIN_DELAY = env.int("CHAIN_ADMIN_DELAY", default=2 * 24 * 3600)
# The ERC-20 escrows are paid in (6 decimals); development chains deploy a test token instead.
CHAIN_SETTLEMENT_TOKEN = env.str("CHAIN_SETTLEMENT_TOKEN", default="")
# Where the platform fee goes (default: the operator's address), and the fee in basis points.
PRINTFAIR_TREASURY = env.str("PRINTFAIR_TREASURY", default="")
PRINTFAIR_FEE_BPS = env.int("PRINTFAIR_FEE_BPS", default=250)
# A "get test dollars" button for customers: local development chains (anvil) only.
PRINTFAIR_FAUCET = env.bool("PRINTFAIR_FAUCET", default=False)
# Development chains only: the mnemonic anvil derives its funded accounts from.
CHAIN_DEV_MNEMONIC = ""

# Records are anchored in Merkle batches of at most this many, sealed once no record has come for
# PRINTFAIR_ANCHOR_IDLE seconds, or when the oldest has waited PRINTFAIR_ANCHOR_MAX_AGE seconds
# (records that never stop coming). The anchoring task checks every second.
PRINTFAIR_ANCHOR_BATCH_SIZE = env.int("PRINTFAIR_ANCHOR_BATCH_SIZE", default=1_000)
PRINTFAIR_ANCHOR_IDLE = env.float("PRINTFAIR_ANCHOR_IDLE", default=1.0)
PRINTFAIR_ANCHOR_MAX_AGE = env.float("PRINTFAIR_ANCHOR_MAX_AGE", default=5.0)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["printshops.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["printshops.authentication.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env.str("PRINTFAIR_API_RATE", default="600/min")},
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies, bounded in size and depth (config/api.py), and nothing else: the API takes
    # what its document says it takes. The evidence upload names its own multipart parser.
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PrintFair shop API",
    "DESCRIPTION": (
        "The API print shops use to find jobs, bid and report production. Authenticate with "
        "`Authorization: Bearer pf_…` using a key from the shop's API keys page."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "marketplace.models.Job.Status",
        "OrderStatusEnum": "marketplace.models.Order.Status",
    },
    # Row ids in paths (config/converters.py) are bounded by their 64-bit columns.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}},
}

# --- Celery ---------------------------------------------------------------------------------
# Redis in CI and production; a broker that needs no server (files under var/) otherwise.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
_celery_dir = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "celery")))


def broker_transport_options(broker_url: str) -> dict[str, object]:
    """The file-system broker keeps its messages under CELERY_BROKER_DIR. Redis: a broker that
    stops answering fails a publish within seconds (a web request enqueues after its commit and
    must not hang), where Redis' client would otherwise wait forever."""
    if broker_url.startswith(("redis", "rediss")):
        return {"socket_timeout": 5, "socket_connect_timeout": 3}
    if not broker_url.startswith("filesystem"):
        return {}
    return {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
    }


CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_BEAT_SCHEDULE_FILENAME = str(_celery_dir / "beat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
