"""What importing the Ethereum libraries does to a process, kept in bounds
(printfair/eth_imports.py). Each test starts a fresh interpreter: what they check happens once,
at a process's first imports."""

from __future__ import annotations

import subprocess
import sys

import pytest


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("first", ["config", "printfair.cli"])
def test_the_recursion_limit_the_ethereum_libraries_raise_is_put_back(first: str) -> None:
    """py_ecc raises the recursion limit to 100,000 at import; a server process (`config`) and a
    `printfair` command put it back, so deep recursion anywhere raises instead of crashing."""
    done = python(
        f"import json, sys\nimport {first}\nimport eth_account, web3\n"
        "assert sys.getrecursionlimit() <= 10_000, sys.getrecursionlimit()\n"
        "try:\n"
        "    json.loads('[' * 100000 + ']' * 100000)\n"
        "except RecursionError:\n"
        "    print('refused')\n"
    )
    assert done.returncode == 0, done.stderr  # -11 would be the segmentation fault
    assert done.stdout.strip() == "refused"


def test_signing_imports_no_bls_tables_until_a_bls_keystore_needs_them() -> None:
    """eth-account (through eth-keyfile) imports py_ecc's BLS12-381 packages, which compute
    pairing tables at import; here they wait until a version-4 (BLS) keystore is made or read,
    which then works as without the deferral."""
    done = python(
        "import sys, printfair\n"
        "from printfair.eth_imports import DEFERRED, is_deferred\n"
        "from eth_account import Account\n"
        "import eth_keyfile, web3\n"
        "tables = ('py_ecc.optimized_bls12_381.optimized_pairing',\n"
        "          'py_ecc.bls12_381.bls12_381_pairing', 'py_ecc.bls.ciphersuites')\n"
        "print([m for m in tables if m in sys.modules], [is_deferred(p) for p in DEFERRED])\n"
        # secp256k1 keystores, which PrintFair uses, never load them
        "key = bytes(range(1, 33))\n"
        "v3 = Account.encrypt(key, 'pw', iterations=2)\n"
        "assert bytes(Account.decrypt(v3, 'pw')) == key\n"
        "print([m for m in tables if m in sys.modules])\n"
        # a BLS keystore does, and is what it would be without the deferral
        "v4 = eth_keyfile.create_keyfile_json(key, b'pw', version=4, iterations=2)\n"
        "assert eth_keyfile.decode_keyfile_json(v4, b'pw') == key\n"
        "from py_ecc.bls import G2ProofOfPossession\n"
        "from py_ecc.bls12_381.bls12_381_curve import curve_order\n"
        "assert v4['pubkey'] == G2ProofOfPossession.SkToPk(int.from_bytes(key)).hex()\n"
        "assert eth_keyfile.keyfile.MAX_V4_PRIVATE_KEY == curve_order - 1\n"
        "import py_ecc.bls12_381\n"
        "assert py_ecc.bls12_381.pairing.__module__ == 'py_ecc.bls12_381.bls12_381_pairing'\n"
        "print(sorted(m for m in tables if m in sys.modules), is_deferred('py_ecc.bls'))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[] [True, True]",
        "[]",
        "['py_ecc.bls.ciphersuites', 'py_ecc.bls12_381.bls12_381_pairing', "
        "'py_ecc.optimized_bls12_381.optimized_pairing'] False",
    ]


def test_a_process_that_imported_them_already_keeps_them() -> None:
    """Imported after eth-account, printfair defers nothing: the real packages stay."""
    done = python(
        "import sys, eth_account\nreal = sys.modules['py_ecc.bls']\nimport printfair\n"
        "from printfair.eth_imports import is_deferred\n"
        "assert sys.modules['py_ecc.bls'] is real and not is_deferred('py_ecc.bls')\n"
    )
    assert done.returncode == 0, done.stderr
