"""Connection to the configured EVM chain (DESIGN.md section 4): per-chain settings, a Web3
client, the operator account and the finality rule. Plain eth_* calls only, so that any
JSON-RPC endpoint works (anvil locally; Besu/QBFT, an L2 or Ethereum in production)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

FeeMode = Literal["eip1559", "legacy", "free"]


@dataclass(frozen=True)
class ChainConfig:
    chain_id: int
    rpc_url: str
    fee_mode: FeeMode
    # None: the node's "finalized" tag decides; otherwise blocks this deep below the head are final.
    confirmations: int | None
    max_log_range: int
    poa: bool
    timeout: float


def chain_config() -> ChainConfig:
    fee_mode = settings.CHAIN_FEE_MODE
    if fee_mode not in ("eip1559", "legacy", "free"):
        raise ImproperlyConfigured(
            f"CHAIN_FEE_MODE must be eip1559, legacy or free, not {fee_mode!r}"
        )
    finality = settings.CHAIN_FINALITY
    confirmations: int | None
    if finality == "finalized":
        confirmations = None
    elif finality.startswith("depth:") and finality[6:].isdigit():
        confirmations = int(finality[6:])
    else:
        raise ImproperlyConfigured(
            f"CHAIN_FINALITY must be 'finalized' or 'depth:N', not {finality!r}"
        )
    if settings.CHAIN_MAX_LOG_RANGE < 1:
        raise ImproperlyConfigured("CHAIN_MAX_LOG_RANGE must be at least 1")
    return ChainConfig(
        chain_id=settings.CHAIN_ID,
        rpc_url=settings.CHAIN_RPC_URL,
        fee_mode=cast(FeeMode, fee_mode),
        confirmations=confirmations,
        max_log_range=settings.CHAIN_MAX_LOG_RANGE,
        poa=settings.CHAIN_POA,
        timeout=settings.CHAIN_RPC_TIMEOUT,
    )


def web3_client(config: ChainConfig | None = None) -> Web3:
    config = config or chain_config()
    w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": config.timeout}))
    if config.poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


def operator_account() -> LocalAccount:
    """The relayer's key: from CHAIN_OPERATOR_KEY, or an encrypted keystore file. Never stored in
    the database."""
    if settings.CHAIN_OPERATOR_KEYSTORE:
        return _account_from_keystore(
            settings.CHAIN_OPERATOR_KEYSTORE, settings.CHAIN_OPERATOR_KEYSTORE_PASSWORD
        )
    if not settings.CHAIN_OPERATOR_KEY:
        raise ImproperlyConfigured("Set CHAIN_OPERATOR_KEY or CHAIN_OPERATOR_KEYSTORE")
    return _account_from_key(settings.CHAIN_OPERATOR_KEY)


@cache
def _account_from_keystore(path: str, password: str) -> LocalAccount:
    # Decrypting a keystore takes a deliberately slow key derivation: once per process, not per
    # queued transaction.
    keystore = json.loads(Path(path).read_text())
    return _account_from_key(Account.decrypt(keystore, password).hex())


@cache
def _account_from_key(key: str) -> LocalAccount:
    return cast(LocalAccount, Account.from_key(key))


def final_block_number(w3: Web3, config: ChainConfig | None = None) -> int:
    """The highest block that the configured finality rule treats as final."""
    config = config or chain_config()
    if config.confirmations is None:
        return int(w3.eth.get_block("finalized")["number"])
    return max(int(w3.eth.block_number) - config.confirmations, -1)
