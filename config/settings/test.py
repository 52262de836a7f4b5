"""pytest: SQLite in a temporary folder unless DATABASE_URL points at PostgreSQL (as on CI);
fresh random keys for every run; media in a temporary folder."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from eth_account import Account

from .base import *

_tmp = Path(env.str("PRINTFAIR_TEST_DIR", default="") or tempfile.mkdtemp(prefix="printfair-test-"))

SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["*"]
if not env.str("DATABASE_URL", default=""):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_tmp / "db.sqlite3"),
            # A file, not memory, so that worker processes started by tests can open it.
            "TEST": {"NAME": str(_tmp / "test.sqlite3")},
            "OPTIONS": sqlite_options(),
        }
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(_tmp / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = str(_tmp / "media")
FILE_UPLOAD_TEMP_DIR = str(_tmp / "media" / "incoming")
STATIC_ROOT = _tmp / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# Fresh keys for every run; processes a test starts (tests/test_outages.py) are given the run's.
PRINTFAIR_KEKS = PRINTFAIR_KEKS or {1: os.urandom(32)}
PRINTFAIR_KEK_CURRENT = max(PRINTFAIR_KEKS)

# Each test run gets its own anvil (tests/conftest.py) with accounts from a fresh mnemonic.
Account.enable_unaudited_hdwallet_features()
_operator, CHAIN_DEV_MNEMONIC = Account.create_with_mnemonic()
# Worker processes that tests start are given the test run's key (tests/ledger/test_faults.py).
CHAIN_OPERATOR_KEY = env.str("PRINTFAIR_TEST_OPERATOR_KEY", default="") or _operator.key.hex()
CHAIN_ARBITER_KEY = (
    env.str("PRINTFAIR_TEST_ARBITER_KEY", default="")
    or Account.from_mnemonic(CHAIN_DEV_MNEMONIC, account_path="m/44'/60'/0'/0/9").key.hex()
)
CHAIN_FINALITY = "depth:0"

# pytest-xdist runs the suite in several processes (PYTEST_XDIST_WORKER gw0, gw1, ...), and the
# processes a test starts inherit that variable: each worker gets a Redis database of its own (the
# given index plus the worker's number), so that one worker's Celery workers never take another's
# tasks. Its test database (pytest-django names it per worker), temporary folder and anvil are its
# own already.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL and _xdist_worker.startswith("gw"):
    _redis = urlsplit(REDIS_URL)
    _redis_db = int(_redis.path.strip("/") or 0) + int(_xdist_worker[2:])
    REDIS_URL = urlunsplit(_redis._replace(path=f"/{_redis_db}"))

# Tests run tasks in a real worker where it matters (tests/test_celery.py); the broker is Redis
# on CI (REDIS_URL) and in-memory otherwise.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options(CELERY_BROKER_URL)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "10000/min"}}

# Tests seal batches when they say so (anchor_batch_seal(force=True)) or move a leaf's clock: a
# busy machine must not find a queue idle that the test is still filling.
PRINTFAIR_ANCHOR_IDLE = 3600.0
PRINTFAIR_ANCHOR_MAX_AGE = 3600.0

# The dev and test chains are anvil: customers may mint test dollars.
PRINTFAIR_FAUCET = env.bool("PRINTFAIR_FAUCET", default=True)
