from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

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
