"""Schemathesis over the whole OpenAPI document, against a live server with a real order in
production (issue 13): with a shop's key (every phase, stateful included), anonymously, and with
an expired and a revoked key. No server error, no answer outside what the document promises
(statuses, bodies, headers, content types), no schema-violating request accepted.

The run is bounded (examples per operation, a time budget per run) to stay well under three
minutes on CI; the seed is fixed so that a failure reproduces, and printed with the report."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from marketplace.models import User
from printshops.models import ApiKey
from printshops.services import api_key_create, api_key_revoke
from tests.scenarios import Released, produce

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "schemathesis.toml"
SEED = 20261206


def schemathesis(
    base_url: str, tmp_path: Path, *, token: str | None, phases: str, examples: int, seconds: int
) -> subprocess.CompletedProcess[str]:
    """`st run` against the live server, as a user of the API would run it."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file", str(CONFIG),
        "run", f"{base_url}/api/schema/",
        "--phases", phases,
        "--max-examples", str(examples),
        "--max-time", str(seconds),
        "--seed", str(SEED),
        "--workers", "1",
        "--report", "junit",
        "--report-dir", str(tmp_path / "report"),
    ]  # fmt: skip
    if token is not None:
        command += ["--header", f"Authorization: Bearer {token}"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(  # noqa: S603 - our own command line
        command,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        capture_output=True,
        text=True,
        timeout=seconds * 3 + 60,
        check=False,
    )


def keys(shop: User) -> dict[str, str | None]:
    """A key per way a shop can call: valid, none, expired, revoked."""
    _, valid = api_key_create(actor=shop, name="fuzz", expires_at=None)
    expired, expired_token = api_key_create(
        actor=shop, name="old", expires_at=timezone.now() + timedelta(minutes=1)
    )
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    revoked, revoked_token = api_key_create(actor=shop, name="gone", expires_at=None)
    api_key_revoke(actor=shop, api_key=revoked)
    return {"shop": valid, "anonymous": None, "expired": expired_token, "revoked": revoked_token}


def test_the_whole_api_keeps_its_document_under_generated_requests(
    released: Released, winning_shop: User, live_server: Any, tmp_path: Path
) -> None:
    # given: an order in production, so that every operation has something real to act on
    job, _, shop = released
    produce(shop, job, "P-1")
    tokens = keys(winning_shop)
    failures = []
    for who, token in tokens.items():
        # when: every phase with the shop's key; without a working key, what a caller can reach
        shop_key = who == "shop"
        done = schemathesis(
            live_server.url,
            tmp_path / who,
            token=token,
            phases="examples,coverage,fuzzing,stateful" if shop_key else "coverage",
            examples=25 if shop_key else 5,
            seconds=30 if shop_key else 5,
        )
        if done.returncode != 0:
            failures.append(f"--- {who} (exit {done.returncode}) ---\n{done.stdout[-20000:]}")
    # then
    assert not failures, "\n".join(failures)
