"""Step 1: sign pending rows under the wallet lock (see the package docstring)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import Nonce, TxParams

from ledger.chain import (
    ChainConfig,
)
from ledger.contracts import ContractNotDeployed, contract, fee_fields
from ledger.models import ChainTx, Wallet
from ledger.services.sender.common import (
    BATCH_FORMS,
    PassReport,
    call_for,
    carried,
    describe_revert,
    store_signature,
    sync_carried,
    wallet_rows,
)

logger = logging.getLogger(__name__)


SIGN_BATCH = 500


CALLS_PER_TX = 100


# Headroom over eth_estimateGas: state can move between estimating and mining.
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
        handles: dict[str, Contract] = {}
        groups = _group(pending)
        while groups:
            group = groups.pop(0)
            name = group[0].contract
            try:
                if name not in handles:
                    handles[name] = contract(w3, name, chain_id=config.chain_id)
                outcome = _sign(config, account, group, handles[name], nonce, fees)
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
    config: ChainConfig,
    account: LocalAccount,
    rows: list[ChainTx],
    target: Contract,
    nonce: int,
    fees: TxParams,
) -> bool | None:
    """Sign one transaction for `rows` (the first carries the others). False: the call would
    revert and the row failed; None: a batch would revert, so it was not signed."""
    chain_tx = rows[0]
    call = call_for(target, rows)
    params: TxParams = {
        "from": account.address,
        "chainId": config.chain_id,
        "nonce": Nonce(nonce),
        **fees,
    }
    try:
        estimate = int(call.estimate_gas({"from": account.address}))
    except (ContractLogicError, ContractCustomError) as exc:
        if len(rows) > 1:
            return None
        chain_tx.status = ChainTx.Status.FAILED
        chain_tx.error = f"Refused before sending: {describe_revert(chain_tx.contract, exc)}"
        chain_tx.save(update_fields=["status", "error", "updated_at"])
        logger.warning("chain tx %s refused: %s", chain_tx.idempotency_key, chain_tx.error)
        return False
    gas_limit = estimate * (100 + GAS_MARGIN_PERCENT) // 100
    params["gas"] = gas_limit
    signed = account.sign_transaction(cast(dict[str, Any], call.build_transaction(params)))
    chain_tx.nonce = nonce
    chain_tx.gas_limit = gas_limit
    store_signature(chain_tx, signed, fees)
    chain_tx.save()
    ChainTx.objects.filter(pk__in=[row.pk for row in rows[1:]]).update(carrier=chain_tx)
    sync_carried([chain_tx])
    return True


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
    target = contract(w3, chain_tx.contract, chain_id=config.chain_id)
    call = call_for(target, carried(chain_tx))
    params: TxParams = {
        "from": account.address,
        "chainId": config.chain_id,
        "nonce": Nonce(chain_tx.nonce or 0),
        "gas": chain_tx.gas_limit or 0,
        **fees,
    }
    signed = account.sign_transaction(cast(dict[str, Any], call.build_transaction(params)))
    chain_tx.replaced_hashes = [*chain_tx.replaced_hashes, chain_tx.tx_hash]
    store_signature(chain_tx, signed, fees)
    chain_tx.broadcast_at = None
    chain_tx.save()
    sync_carried([chain_tx])
    logger.warning("bumped the fees of stuck chain tx %s", chain_tx.idempotency_key)
