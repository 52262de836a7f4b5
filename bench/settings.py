"""Settings for benchmark servers: production-like (DEBUG off), everything under one scratch
folder that the benchmark and its server processes share (PRINTFAIR_BENCH_DIR)."""

import os
from pathlib import Path

from eth_account import Account

from config.settings.base import *

_dir = Path(os.environ["PRINTFAIR_BENCH_DIR"])

DEBUG = False
SECRET_KEY = "bench-only-secret-key-not-used-anywhere-else-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{_dir / 'db.sqlite3'}")}
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(_dir / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = str(_dir / "media")
FILE_UPLOAD_TEMP_DIR = str(_dir / "media" / "incoming")
STATIC_ROOT = _dir / "static"
STATIC_ROOT.mkdir(exist_ok=True)
PRINTFAIR_KEKS = parse_keks(os.environ["PRINTFAIR_KEKS"])
PRINTFAIR_KEK_CURRENT = 1
PRINTFAIR_MAX_UPLOAD_BYTES = 1 << 30
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# Uploads queue their design registration; bench/chain.py passes a funded key, others any key.
CHAIN_OPERATOR_KEY = CHAIN_OPERATOR_KEY or Account.create().key.hex()
# Benchmarks run no Celery worker: queued tasks (chain wake-ups) stay in this process.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
