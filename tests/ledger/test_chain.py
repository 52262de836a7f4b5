from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account

from ledger.anvil import Anvil
from ledger.chain import chain_config, final_block_number, operator_account, web3_client


def test_the_operator_is_funded_on_the_test_chain(chain: Anvil) -> None:
    w3 = web3_client()
    assert w3.eth.chain_id == chain_config().chain_id
    assert w3.eth.get_balance(operator_account().address) > 0


def test_finality_by_depth(chain: Anvil, settings: object) -> None:
    w3 = web3_client()
    head = w3.eth.block_number
    settings.CHAIN_FINALITY = "depth:2"
    assert final_block_number(w3) == max(head - 2, -1)
    settings.CHAIN_FINALITY = "finalized"
    assert final_block_number(w3) == w3.eth.get_block("finalized")["number"]


@pytest.mark.parametrize(
    ("name", "value"),
    [("CHAIN_FINALITY", "soon"), ("CHAIN_FEE_MODE", "cheap"), ("CHAIN_MAX_LOG_RANGE", 0)],
)
def test_bad_chain_settings_fail_loudly(settings: object, name: str, value: object) -> None:
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured):
        chain_config()


def test_the_operator_keystore_is_decrypted_once_per_process(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = Account.create()
    path = tmp_path / "operator.json"
    path.write_text(json.dumps(Account.encrypt(account.key, "pass", kdf="pbkdf2", iterations=2)))
    settings.CHAIN_OPERATOR_KEYSTORE = str(path)
    settings.CHAIN_OPERATOR_KEYSTORE_PASSWORD = "pass"
    decrypted = []
    decrypt = Account.decrypt

    def counted(*args: Any) -> Any:
        decrypted.append(args)
        return decrypt(*args)

    monkeypatch.setattr(Account, "decrypt", counted)
    assert operator_account().address == operator_account().address == account.address
    assert len(decrypted) == 1
