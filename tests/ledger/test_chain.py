from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account
from web3.types import Wei

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


def test_a_client_asks_the_node_for_its_chain_id_once_and_reads_the_proxies_once(
    chain: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web3 checks the chain id before every eth_call, estimate and transaction; a client asks
    the node once. requests looks up the environment's proxies on every call; a client reads
    them when it is made (ledger.chain._provider_options), and still honours them."""
    from web3._utils.http_session_manager import HTTPSessionManager

    asked: list[str] = []
    post = HTTPSessionManager.make_post_request

    def counting(self: HTTPSessionManager, uri: Any, data: Any, **kwargs: Any) -> bytes:
        sent = json.loads(data)
        asked.extend(r["method"] for r in (sent if isinstance(sent, list) else [sent]))
        return post(self, uri, data, **kwargs)

    monkeypatch.setattr(HTTPSessionManager, "make_post_request", counting)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    w3 = web3_client()
    operator = operator_account().address

    def calls() -> None:
        for _ in range(3):
            w3.eth.call({"from": operator, "to": operator, "data": b""})
            w3.eth.estimate_gas({"from": operator, "to": operator, "value": Wei(1)})

    calls()
    first = asked.count("eth_chainId")  # web3 asks it apart once more, to set up its cache
    calls()
    assert asked.count("eth_call") == 6 and asked.count("eth_estimateGas") == 6
    assert first <= 2 and asked.count("eth_chainId") == first
    session = w3.provider._request_session_manager._explicit_session
    assert session.trust_env is False
    assert session.proxies.get("https") == "http://proxy.example:3128"
