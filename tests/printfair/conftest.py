"""The `printfair` CLI's fixtures, shared by tests/printfair/test_cli*.py: its home, a way to run
it in this process, and the winning shop at the CLI in the `market` scenario (tests/scenarios.py),
whose deployed contracts, published jobs and verified shops the CLI then works with, its own keys
replacing the ones the market registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from marketplace.models import User
from printfair.cli import main
from printfair.cli.keyfile import load_keyfile
from printfair.keys import HpkeKem
from printshops.services import api_key_create
from tests.scenarios import PASSPHRASE, Run, drain


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's home, with the passphrase in the environment as cron would have it."""
    home = tmp_path / "printfair-home"
    monkeypatch.setenv("PRINTFAIR_HOME", str(home))
    monkeypatch.setenv("PRINTFAIR_PASSPHRASE", PASSPHRASE)
    for name in ("PRINTFAIR_API", "PRINTFAIR_API_KEY", "PRINTFAIR_API_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run the CLI; return its exit status, stdout and stderr (never a traceback)."""

    def call(*argv: str) -> tuple[int, str, str]:
        status = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return status, out, err

    return call


@pytest.fixture
def hpke_kem() -> str:
    """The type of HPKE key `shop_cli` makes; a test parametrized on `hpke_kem` chooses."""
    return HpkeKem.X25519.value


@pytest.fixture
def shop_cli(
    market: dict[str, Any],
    live_server: Any,
    winning_shop: User,
    home: Path,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
    hpke_kem: str,
) -> dict[str, Any]:
    """The winning shop at the CLI: its API key in the environment, keys made and registered
    through the live server, and the new address verified on chain."""
    _, token = api_key_create(actor=winning_shop, name="cli", expires_at=None)
    monkeypatch.setenv("PRINTFAIR_API", live_server.url)
    monkeypatch.setenv("PRINTFAIR_API_KEY", token)
    assert run("keys", "init", "--light-kdf", "--kem", hpke_kem)[0] == 0
    status, out, _ = run("keys", "register")
    assert status == 0, out
    drain()  # the new address verified in the AuctionHouse's registry
    return {**market, "address": load_keyfile(home / "keys.json").address}
