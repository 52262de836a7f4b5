"""What every benchmark needs: a scratch database and settings (bench/settings.py), migrated,
with Django set up in this process and the same environment for any server it starts."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def django_for_bench(scratch: Path, **extra_env: str) -> dict[str, str]:
    """Migrate a fresh database under `scratch`, set Django up here, and return the environment
    (with `extra_env`) that server processes of the benchmark should get."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "PRINTFAIR_BENCH_DIR": str(scratch),
        "PRINTFAIR_KEKS": "1:" + base64.b64encode(os.urandom(32)).decode(),
        **extra_env,
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    return env


def bench_job_spec(*, reserve: int, bidding: timedelta, revealing: timedelta) -> Any:
    """A plain SLS job's specification whose bidding closes after `bidding` and reveals after
    `bidding + revealing` (Django must be set up: see django_for_bench)."""
    from django.utils import timezone

    from marketplace.services import JobSpec

    now = timezone.now()
    return JobSpec(
        title="Bench bracket",
        description="",
        process="sls",
        material="pa12",
        quantity=1,
        spares=0,
        tolerance_mm=Decimal("0.2"),
        finish="as_printed",
        required_certifications=[],
        delivery_deadline=(now + timedelta(days=30)).date(),
        reserve_price=Decimal(reserve),
        commit_deadline=now + bidding,
        reveal_deadline=now + bidding + revealing,
        pricing_rule="first_price",
    )
