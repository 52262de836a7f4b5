"""Production refuses to start half-configured (issue 13, item 9): a setting left out, or left at
the placeholder `.env.example` ships, stops the start with a message naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import run_with_settings, settings_alone

ROOT = Path(__file__).resolve().parents[1]

COMPLETE = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "s" * 30 + "ecret-for-this-test-only-0123456789",
    "DJANGO_ALLOWED_HOSTS": "printfair.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://printfair.example.com",
    "CHAIN_RPC_URL": "http://node.example:8545",
    "CHAIN_ID": "1337",
    "PRINTFAIR_KEKS": "1:" + "A" * 43 + "=",
    "CHAIN_OPERATOR_KEY": "0x" + "ab" * 32,
    "CHAIN_ARBITER_KEY": "0x" + "cd" * 32,
    "DATABASE_URL": "postgres://printfair@127.0.0.1:5432/printfair",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp+tls://printfair:secret@mail.example.com:587",
}


# Loads the settings module once for each environment (a JSON list on stdin), each time as a fresh
# process would: the environment replaced, the settings package imported again. Prints, per
# environment, the ImproperlyConfigured it raised (its type and message), or null. One process
# for all: a start each took a second of CPU under the suite's load, and a refusal happens while
# the settings load, before Django sets anything up.
LOAD_EACH = """\
import importlib, json, os, sys
from django.core.exceptions import ImproperlyConfigured
refusals = []
for env in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(env)
    for name in [m for m in sys.modules if m.split(".")[:2] == ["config", "settings"]]:
        del sys.modules[name]
    try:
        importlib.import_module(env["DJANGO_SETTINGS_MODULE"])
    except ImproperlyConfigured as refusal:
        refusals.append(f"{type(refusal).__name__}: {refusal}")
    else:
        refusals.append(None)
print(json.dumps(refusals))
"""


def with_changes(**changes: str | None) -> dict[str, str]:
    env = {**COMPLETE, **changes}
    return {key: value for key, value in env.items() if value is not None}


def start(**changes: str | None) -> subprocess.CompletedProcess[str]:
    """Load the production settings in a fresh process (as gunicorn would) with these changes."""
    return run_with_settings("import django; django.setup()", with_changes(**changes))


def refusals(*environments: dict[str, str]) -> list[str | None]:
    """What loading the settings says in each of these environments (LOAD_EACH)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", LOAD_EACH],
        input=json.dumps([settings_alone(env) for env in environments]),
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answers: list[str | None] = json.loads(done.stdout.splitlines()[-1])
    return answers


def test_complete_settings_start() -> None:
    done = start()
    assert done.returncode == 0, done.stderr


MISSING_OR_PLACEHOLDER: list[tuple[dict[str, str | None], str]] = [
    ({"REDIS_URL": None}, "REDIS_URL"),
    ({"EMAIL_URL": None}, "EMAIL_URL"),
    ({"DATABASE_URL": None}, "DATABASE_URL"),
    ({"CHAIN_OPERATOR_KEY": "REPLACE_WITH_THE_OPERATOR_PRIVATE_KEY"}, "CHAIN_OPERATOR_KEY"),
    ({"CHAIN_OPERATOR_KEY": None}, "CHAIN_OPERATOR_KEY"),
    ({"DJANGO_SECRET_KEY": "change-me-to-a-long-random-string"}, "DJANGO_SECRET_KEY"),
    ({"PRINTFAIR_KEKS": "1:REPLACE_WITH_BASE64_32_BYTES"}, "PRINTFAIR_KEKS"),
    ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
    ({"DJANGO_CSRF_TRUSTED_ORIGINS": None}, "DJANGO_CSRF_TRUSTED_ORIGINS"),
    ({"DJANGO_CSRF_TRUSTED_ORIGINS": "http://printfair.example.com"}, "CSRF_TRUSTED"),
    ({"DATABASE_URL": "sqlite:////tmp/db.sqlite3"}, "DATABASE_URL"),
    ({"CHAIN_RPC_URL": None}, "CHAIN_RPC_URL"),
    ({"CHAIN_ID": None}, "CHAIN_ID"),
    ({"PRINTFAIR_TRUSTED_PROXIES": "10.0.0.2,caddy"}, "PRINTFAIR_TRUSTED_PROXIES"),
    ({"EMAIL_URL": None, "EMAIL_URL_FILE": "/dev/null"}, "EMAIL_URL"),
    ({"CHAIN_OPERATOR_KEY": None, "CHAIN_OPERATOR_KEYSTORE": "/nowhere.json"}, "KEYSTORE"),
    ({"CHAIN_ARBITER_KEY": "REPLACE_WITH_THE_ARBITER_PRIVATE_KEY"}, "CHAIN_ARBITER_KEY"),
    # the relayer cannot be the arbiter
    ({"CHAIN_ARBITER_KEY": "AB" * 32}, "CHAIN_ARBITER_KEY"),
]


@pytest.fixture(scope="module")
def refused() -> list[str | None]:
    """What the settings said for each of MISSING_OR_PLACEHOLDER, loaded in one process."""
    return refusals(*(with_changes(**changes) for changes, _ in MISSING_OR_PLACEHOLDER))


def test_the_complete_settings_load_where_the_changed_ones_are_refused() -> None:
    """The way the cases below are checked tells a refusal from a start."""
    assert refusals(with_changes(), with_changes(REDIS_URL=None)) == [
        None,
        "ImproperlyConfigured: REDIS_URL must name the Redis server (cache and Celery broker) "
        "(production settings; see .env.example)",
    ]


@pytest.mark.parametrize(
    "case", range(len(MISSING_OR_PLACEHOLDER)), ids=[named for _, named in MISSING_OR_PLACEHOLDER]
)
def test_a_missing_or_placeholder_setting_stops_the_start_naming_it(
    refused: list[str | None], case: int
) -> None:
    changes, named = MISSING_OR_PLACEHOLDER[case]
    refusal = refused[case]
    assert refusal is not None, f"{changes} started"
    assert refusal.startswith("ImproperlyConfigured: ") and named in refusal, refusal


def test_the_example_environment_file_is_refused_as_it_ships() -> None:
    """Copying .env.example without filling it in must not start a production site."""
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    keys = (
        "DJANGO_SECRET_KEY", "PRINTFAIR_KEKS", "CHAIN_OPERATOR_KEY", "CHAIN_ARBITER_KEY",
        "DATABASE_PASSWORD", "EMAIL_URL",
    )  # fmt: skip
    for key, refusal in zip(
        keys, refusals(*(with_changes(**{key: example[key]}) for key in keys)), strict=True
    ):
        assert refusal is not None and key in refusal, (key, refusal)


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    """As compose secrets: each *_FILE variable names a file holding the value."""
    files: dict[str, str | None] = {}
    for name in ("DJANGO_SECRET_KEY", "PRINTFAIR_KEKS", "CHAIN_OPERATOR_KEY", "EMAIL_URL"):
        path = tmp_path / name.lower()
        path.write_text(COMPLETE[name] + "\n")
        files[name] = None
        files[f"{name}_FILE"] = str(path)
    (tmp_path / "db").write_text("s3cret\n")
    done = run_with_settings(
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['PASSWORD'], s.EMAIL_HOST, s.SECRET_KEY[:5])",
        {**{k: v for k, v in {**COMPLETE, **files}.items() if v is not None},
         "DATABASE_PASSWORD_FILE": str(tmp_path / "db")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["s3cret", "mail.example.com", "sssss"]


@pytest.mark.parametrize(
    ("module", "reads"),
    [("config.settings.production", False), ("config.settings.local", True)],
)
def test_only_development_reads_the_env_file_at_the_projects_root(module: str, reads: bool) -> None:
    """A `.env` left next to the code (or copied into an image) must not configure production;
    production reads a file only when ENV_FILE names one."""
    code = (
        "import os, environ; os.environ.pop('ENV_FILE'); read = []; "
        "environ.Env.read_env = lambda *a, **k: read.append(str(a[0])); "
        "import django; django.setup(); print(read)"
    )
    done = run_with_settings(code, {**COMPLETE, "DJANGO_SETTINGS_MODULE": module})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"[{str(ROOT / '.env')!r}]" if reads else "[]")
