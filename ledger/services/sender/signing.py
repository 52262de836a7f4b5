"""Step 1: sign pending rows under the wallet lock (see the package docstring)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import Nonce, RPCEndpoint, TxParams, Wei

from ledger.chain import (
    ChainConfig,
)
from ledger.contracts import ContractNotDeployed, contract_address, fee_fields
from ledger.models import ChainTx, Wallet
from ledger.services.sender.common import (
    BATCH_FORMS,
    PassReport,
    calldata_for,
    carried,
    describe_revert,
    store_signature,
    sync_carried,
    wallet_rows,
)

logger = logging.getLogger(__name__)


SIGN_BATCH = 500


CALLS_PER_TX = 100


# Headroom over the gas measured before signing: state can move between measuring and mining,
# and a call that forwards gas to another needs 1/64 more than it uses (EIP-150).
GAS_MARGIN_PERCENT = 20


FEE_BUMP_PERCENT = 12


def _group(pending: list[ChainTx]) -> list[list[ChainTx]]:
    """Calls that have a batch form travel together, up to CALLS_PER_TX; the rest alone."""
    groups: list[list[ChainTx]] = []
    open_groups: dict[tuple[str, str], list[ChainTx]] = {}
    for chain_tx in pending:
        key = (chain_tx.contract, chain_tx.function)
        group = open_groups.get(key)
        if key not in BATCH_FORMS or group is None or len(group) >= CALLS_PER_TX:
            group = [chain_tx]
            groups.append(group)
            if key in BATCH_FORMS:
                open_groups[key] = group
        else:
            group.append(chain_tx)
    return groups


MINED = (ChainTx.Status.INCLUDED, ChainTx.Status.FINAL)


def _ready(w3: Web3, pending: list[ChainTx], report: PassReport) -> list[ChainTx]:
    """The rows that may be signed now: those waiting for another transaction to be mined stay
    pending, and fail if it failed; those waiting for a block time stay pending until the latest
    block is that late."""
    block_time = None
    if any(chain_tx.not_before is not None for chain_tx in pending):
        latest = int(w3.eth.get_block("latest")["timestamp"])
        block_time = datetime.fromtimestamp(latest, tz=UTC)
    ready = []
    for chain_tx in pending:
        after = chain_tx.after
        if block_time is not None and chain_tx.not_before and block_time < chain_tx.not_before:
            continue
        if after is None or after.status in MINED:
            ready.append(chain_tx)
        elif after.status == ChainTx.Status.FAILED:
            chain_tx.status = ChainTx.Status.FAILED
            chain_tx.error = f"it needed {after.idempotency_key}, which failed: {after.error}"
            chain_tx.save(update_fields=["status", "error", "updated_at"])
            report.failed += 1
    return ready


def sign_pending(w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport) -> None:
    if not wallet_rows(config, account, ChainTx.Status.PENDING).exists():
        return
    with transaction.atomic():
        wallet, _ = Wallet.objects.get_or_create(chain_id=config.chain_id, address=account.address)
        # Take the lock with a write: a row lock on PostgreSQL, the write lock on SQLite.
        Wallet.objects.filter(pk=wallet.pk).update(locked_at=timezone.now())
        wallet.refresh_from_db()
        pending = _ready(
            w3,
            list(
                wallet_rows(config, account, ChainTx.Status.PENDING)
                .select_related("after")
                .order_by("id")[:SIGN_BATCH]
            ),
            report,
        )
        # Another client of the same key may have used nonces we did not hand out.
        nonce = max(
            wallet.next_nonce or 0, w3.eth.get_transaction_count(account.address, "pending")
        )
        fees = fee_fields(w3, config.fee_mode)
        addresses: dict[str, ChecksumAddress] = {}
        groups = _group(pending)
        while groups:
            group = groups.pop(0)
            name = group[0].contract
            try:
                if name not in addresses:
                    addresses[name] = contract_address(name, config.chain_id)
                outcome = _sign(w3, config, account, group, addresses[name], nonce, fees)
            except ContractNotDeployed as exc:
                # Not yet (make run deploys while the sender starts): try again next pass. The
                # other contracts' calls need not wait.
                logger.warning("%s; %s stays pending", exc, group[0].idempotency_key)
                continue
            if outcome is None:
                # One call of the batch would revert: send them one by one, so only it fails.
                groups[:0] = [[row] for row in group]
            elif outcome:
                nonce += 1
                report.signed += len(group)
            else:
                report.failed += 1
        wallet.next_nonce = nonce
        wallet.save(update_fields=["next_nonce"])


def _sign(
    w3: Web3,
    config: ChainConfig,
    account: LocalAccount,
    rows: list[ChainTx],
    target: ChecksumAddress,
    nonce: int,
    fees: TxParams,
) -> bool | None:
    """Sign one transaction for `rows` (the first carries the others). False: the call would
    revert and the row failed; None: a batch would revert, so it was not signed."""
    chain_tx = rows[0]
    call: TxParams = {"from": account.address, "to": target, "data": calldata_for(rows)}
    try:
        estimate = _gas_used(w3, call)
    except (ContractLogicError, ContractCustomError) as exc:
        if len(rows) > 1:
            return None
        chain_tx.status = ChainTx.Status.FAILED
        chain_tx.error = f"Refused before sending: {describe_revert(chain_tx.contract, exc)}"
        chain_tx.save(update_fields=["status", "error", "updated_at"])
        logger.warning("chain tx %s refused: %s", chain_tx.idempotency_key, chain_tx.error)
        return False
    gas_limit = estimate * (100 + GAS_MARGIN_PERCENT) // 100
    signed = _signed(config, account, call, nonce, gas_limit, fees)
    chain_tx.nonce = nonce
    chain_tx.gas_limit = gas_limit
    store_signature(chain_tx, signed, fees)
    chain_tx.save()
    ChainTx.objects.filter(pk__in=[row.pk for row in rows[1:]]).update(carrier=chain_tx)
    sync_carried([chain_tx])
    return True


def _gas_used(w3: Web3, call: TxParams) -> int:
    """The gas `call` uses now. eth_createAccessList reports it from one execution (geth, anvil,
    erigon, nethermind and besu have it), where eth_estimateGas's search runs the call a dozen
    times or more (anvil: 130 ms against 12 ms for a batch of 100 relayed bids). A call that
    would revert, or a node without the method, goes to eth_estimateGas, which raises the
    contract's error."""
    params = {**call, "data": HexBytes(call["data"]).to_0x_hex()}
    answer = w3.provider.make_request(RPCEndpoint("eth_createAccessList"), [params, "latest"])
    result = answer.get("result")
    if isinstance(result, dict) and result.get("gasUsed") and not result.get("error"):
        return int(result["gasUsed"], 16)
    return int(w3.eth.estimate_gas(call))


def _signed(
    config: ChainConfig,
    account: LocalAccount,
    call: TxParams,
    nonce: int,
    gas_limit: int,
    fees: TxParams,
) -> SignedTransaction:
    """`call` (to and data) signed as a transaction of this chain, nonce, gas limit and fees."""
    tx: TxParams = {
        "to": call["to"],
        "data": call["data"],
        "value": Wei(0),
        "chainId": config.chain_id,
        "nonce": Nonce(nonce),
        "gas": gas_limit,
        **fees,
    }
    return account.sign_transaction(cast(dict[str, Any], tx))


def _raised(fee: str) -> int:
    """The fee raised by FEE_BUMP_PERCENT, rounded up."""
    return -(-int(fee or 0) * (100 + FEE_BUMP_PERCENT) // 100)


def bump(w3: Web3, config: ChainConfig, account: LocalAccount, chain_tx: ChainTx) -> None:
    """Sign the same call with the same nonce and fees raised by FEE_BUMP_PERCENT (nodes replace
    a pending transaction only for at least 10% more), or today's fees if they are higher."""
    current = fee_fields(w3, config.fee_mode)
    previous = {
        "maxFeePerGas": chain_tx.max_fee_per_gas,
        "gasPrice": chain_tx.max_fee_per_gas,
        "maxPriorityFeePerGas": chain_tx.max_priority_fee_per_gas,
    }
    fees = cast(
        TxParams,
        {
            name: max(int(cast(int, value)), _raised(previous[name]))
            for name, value in current.items()
        },
    )
    call: TxParams = {
        "to": contract_address(chain_tx.contract, config.chain_id),
        "data": calldata_for(carried(chain_tx)),
    }
    signed = _signed(config, account, call, chain_tx.nonce or 0, chain_tx.gas_limit or 0, fees)
    chain_tx.replaced_hashes = [*chain_tx.replaced_hashes, chain_tx.tx_hash]
    store_signature(chain_tx, signed, fees)
    chain_tx.broadcast_at = None
    chain_tx.save()
    sync_carried([chain_tx])
    logger.warning("bumped the fees of stuck chain tx %s", chain_tx.idempotency_key)
