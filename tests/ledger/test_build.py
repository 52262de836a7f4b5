"""The committed contract artifacts are exactly what a fresh compile of the sources produces."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from ledger.contracts import BUILD_DIR

COMPILE = Path(settings.BASE_DIR) / "ledger" / "contracts" / "compile.mjs"
STALE = "run `make contracts` and commit ledger/contracts/build/"

# One worker compiles once for the module (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("solc")


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the contracts are compiled with solc-js from npm")
    out = tmp_path_factory.mktemp("build")
    result = subprocess.run(  # noqa: S603 - our own script, no shell
        [node, str(COMPILE), "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.fail(f"compile.mjs failed:\n{result.stderr}")
    return out


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.json"))


def test_every_contract_has_a_committed_artifact_and_no_other(fresh_build: Path) -> None:
    assert _names(BUILD_DIR) == _names(fresh_build), STALE


def test_committed_artifacts_are_byte_identical_to_a_fresh_compile(fresh_build: Path) -> None:
    for name in _names(fresh_build):
        committed = BUILD_DIR / name
        assert committed.exists(), f"{name} is missing: {STALE}"
        assert committed.read_bytes() == (fresh_build / name).read_bytes(), f"{name}: {STALE}"


def test_artifacts_record_the_pinned_compiler_and_settings() -> None:
    for path in BUILD_DIR.glob("*.json"):
        artifact = json.loads(path.read_text())
        assert artifact["compiler"] == {
            "version": "0.8.37+commit.f401782d",
            "settings": {"evmVersion": "cancun", "optimizer": {"enabled": True, "runs": 10000}},
        }
        assert artifact["contractName"] == path.stem
        assert len(artifact["deployedBytecode"]) > 2
        assert all(h.startswith("0x") and len(h) == 66 for h in artifact["sources"].values())


def test_deployable_contracts_are_built() -> None:
    assert {"RecordAnchor", "DesignRegistry", "MachineRegistry", "TestStablecoin"} <= {
        p.stem for p in BUILD_DIR.glob("*.json")
    }
