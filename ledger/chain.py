"""Connection to the configured EVM chain (DESIGN.md section 4): per-chain settings, a Web3
client, the operator account and the finality rule. Plain eth_* calls only, so that any
JSON-RPC endpoint works (anvil locally; Besu/QBFT, an L2 or Ethereum in production)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from eth_account import Account
from eth_account.signers.local import LocalAccount
from requests import Session
from requests.exceptions import RequestException
from requests.utils import get_environ_proxies
from web3 import HTTPProvider, Web3
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import RPCEndpoint, RPCResponse

from ledger.breakers import breaker

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
    """A client for background work (the sender, the indexer, commands): CHAIN_RPC_TIMEOUT per
    call, and web3's retries of reads that failed to connect or timed out."""
    config = config or chain_config()
    provider = HTTPProvider(
        config.rpc_url, request_kwargs={"timeout": config.timeout}, **_provider_options(config)
    )
    return _with_poa(Web3(provider), config)


def _provider_options(config: ChainConfig) -> dict[str, Any]:
    """What every client's provider shares, so that a call costs one round trip:
    - the chain id asked once per client: web3 checks it before every eth_call, gas estimate
      and transaction, one more call to the node each time (a client serves one chain);
    - the environment's proxy settings read once: requests reads them on every call, walking
      the whole environment. Still honoured, as is a CA bundle named there."""
    session = Session()
    session.trust_env = False
    session.proxies = get_environ_proxies(config.rpc_url)
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    return {
        "session": session,
        "cache_allowed_requests": True,
        "cacheable_requests": {RPCEndpoint("eth_chainId")},
    }


def _with_poa(w3: Web3, config: ChainConfig) -> Web3:
    if config.poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


class NodeUnreachable(ConnectionError):
    """The chain node did not answer a call made while someone waits, or did not answer one a
    moment ago: `retry_after` is how many seconds until it is asked again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _InteractiveProvider(HTTPProvider):
    """One try per call, within CHAIN_REQUEST_TIMEOUT; while the node's breaker is open (it
    failed such a call a moment ago), no try at all (ledger/breakers.py)."""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        guard = breaker(f"chain node {self.endpoint_uri}")
        if left := guard.open_for():
            raise NodeUnreachable(guard.reason, retry_after=left)
        try:
            return super().make_request(method, params)
        except (RequestException, OSError) as exc:  # refused, reset or timed out
            reason = f"the chain node did not answer {method} ({type(exc).__name__})"
            backoff = int(settings.CHAIN_UNREACHABLE_BACKOFF)
            guard.trip(reason, backoff)
            raise NodeUnreachable(reason, retry_after=backoff) from exc


def request_web3_client(config: ChainConfig | None = None) -> Web3:
    """A client for chain calls made while a person waits for a page or an API answer: one try
    within CHAIN_REQUEST_TIMEOUT (no retries), and NodeUnreachable at once while the node is
    known not to answer (STYLE.md 8a: every network call made while serving a request has a
    short timeout)."""
    config = config or chain_config()
    provider = _InteractiveProvider(
        config.rpc_url,
        request_kwargs={"timeout": settings.CHAIN_REQUEST_TIMEOUT},
        exception_retry_configuration=None,
        **_provider_options(config),
    )
    return _with_poa(Web3(provider), config)


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


def arbiter_account() -> LocalAccount:
    """The arbiter's key (CHAIN_ARBITER_KEY): it signs dispute resolutions, and only those."""
    if not settings.CHAIN_ARBITER_KEY:
        raise ImproperlyConfigured("Set CHAIN_ARBITER_KEY: disputes are resolved with its key")
    return _account_from_key(settings.CHAIN_ARBITER_KEY)


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
