"""The sender: signs, broadcasts and follows the outbox's transactions (DESIGN.md section 4).

One pass (`chaintx_process`) does three things, each safe to repeat and to interrupt anywhere:

1. **Sign** pending rows in order, under the wallet's row lock: assign the next nonce, estimate
   gas, set fees, sign, and store the raw bytes and hash in the same transaction. A call that
   would revert fails here with its reason and consumes no nonce.
2. **Broadcast** signed rows, lowest nonce first, re-sending exactly the stored bytes. A node
   that already has them ("already known") counts as success; so does "nonce too low", which
   means the transaction was mined (the receipt step then tells whose it was).
3. **Follow** broadcast rows to their receipts and included rows to finality. A transaction a
   reorg removed goes back to signed and is re-sent (same bytes, same nonce); one the node forgot
   is re-sent after REBROADCAST_AFTER.

A worker killed at any point leaves rows in a state the next pass continues from: nothing is
lost (rows commit before broadcast) and nothing is sent twice (re-sends are the same bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import Nonce, TxParams

from ledger.chain import (
    ChainConfig,
    chain_config,
    final_block_number,
    operator_account,
    web3_client,
)
from ledger.contracts import ContractNotDeployed, contract, decode_custom_error, fee_fields
from ledger.models import ChainTx, Wallet

logger = logging.getLogger(__name__)

SIGN_BATCH = 200
REBROADCAST_AFTER = timedelta(seconds=30)
# Headroom over eth_estimateGas: state can move between estimating and mining.
GAS_MARGIN_PERCENT = 20
ALREADY_KNOWN = ("already known", "known transaction", "already imported")
NONCE_TOO_LOW = ("nonce too low", "nonce is too low")


@dataclass
class PassReport:
    signed: int = 0
    broadcast: int = 0
    included: int = 0
    final: int = 0
    failed: int = 0
    resent: int = 0


def chaintx_process(*, w3: Web3 | None = None) -> PassReport:
    """One pass of the sender for the operator wallet."""
    w3 = w3 or web3_client()
    config = chain_config()
    account = operator_account()
    report = PassReport()
    _sign_pending(w3, config, account, report)
    _broadcast_signed(w3, config, account, report)
    _follow(w3, config, account, report)
    return report


def _rows(config: ChainConfig, account: LocalAccount, *statuses: str) -> QuerySet[ChainTx]:
    return ChainTx.objects.filter(
        chain_id=config.chain_id, sender=account.address, status__in=statuses
    )


# --- 1. sign ----------------------------------------------------------------------------------


def _sign_pending(w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport) -> None:
    if not _rows(config, account, ChainTx.Status.PENDING).exists():
        return
    with transaction.atomic():
        wallet, _ = Wallet.objects.get_or_create(chain_id=config.chain_id, address=account.address)
        # Take the lock with a write: a row lock on PostgreSQL, the write lock on SQLite.
        Wallet.objects.filter(pk=wallet.pk).update(locked_at=timezone.now())
        wallet.refresh_from_db()
        pending = list(_rows(config, account, ChainTx.Status.PENDING).order_by("id")[:SIGN_BATCH])
        # Another client of the same key may have used nonces we did not hand out.
        nonce = max(
            wallet.next_nonce or 0, w3.eth.get_transaction_count(account.address, "pending")
        )
        fees = fee_fields(w3, config.fee_mode)
        for chain_tx in pending:
            try:
                signed = _sign(w3, config, account, chain_tx, nonce, fees)
            except ContractNotDeployed as exc:
                # Not yet (make run deploys while the sender starts): try again next pass.
                logger.warning("%s; %s stays pending", exc, chain_tx.idempotency_key)
                break
            if signed:
                nonce += 1
                report.signed += 1
            else:
                report.failed += 1
        wallet.next_nonce = nonce
        wallet.save(update_fields=["next_nonce"])


def _sign(
    w3: Web3,
    config: ChainConfig,
    account: LocalAccount,
    chain_tx: ChainTx,
    nonce: int,
    fees: TxParams,
) -> bool:
    target = contract(w3, chain_tx.contract)
    call = target.functions[chain_tx.function](*chain_tx.args)
    params: TxParams = {
        "from": account.address,
        "chainId": config.chain_id,
        "nonce": Nonce(nonce),
        **fees,
    }
    try:
        estimate = int(call.estimate_gas({"from": account.address}))
    except (ContractLogicError, ContractCustomError) as exc:
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
    chain_tx.max_fee_per_gas = str(fees.get("maxFeePerGas", fees.get("gasPrice", 0)))
    chain_tx.max_priority_fee_per_gas = str(fees.get("maxPriorityFeePerGas", ""))
    chain_tx.raw_tx = bytes(signed.raw_transaction)
    chain_tx.tx_hash = HexBytes(signed.hash).to_0x_hex()
    chain_tx.status = ChainTx.Status.SIGNED
    chain_tx.error = ""
    chain_tx.save()
    return True


def describe_revert(contract_name: str, exc: Exception) -> str:
    """A revert as a person reads it: the contract's custom error with its arguments."""
    data = getattr(exc, "data", None)
    if isinstance(data, str | bytes):
        error = decode_custom_error(contract_name, data)
        if error is not None:
            return str(error)
    return str(getattr(exc, "message", None) or exc)


# --- 2. broadcast -------------------------------------------------------------------------------


def _broadcast_signed(
    w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport
) -> None:
    for chain_tx in _rows(config, account, ChainTx.Status.SIGNED).order_by("nonce"):
        try:
            w3.eth.send_raw_transaction(HexBytes(cast(bytes, chain_tx.raw_tx)))
        except Web3RPCError as exc:
            message = str(exc).lower()
            if not any(text in message for text in ALREADY_KNOWN + NONCE_TOO_LOW):
                ChainTx.objects.filter(pk=chain_tx.pk).update(
                    error=str(exc), attempts=chain_tx.attempts + 1, updated_at=timezone.now()
                )
                logger.warning("broadcast of %s failed: %s", chain_tx.idempotency_key, exc)
                continue
        moved = ChainTx.objects.filter(pk=chain_tx.pk, status=ChainTx.Status.SIGNED).update(
            status=ChainTx.Status.BROADCAST,
            broadcast_at=timezone.now(),
            attempts=chain_tx.attempts + 1,
            error="",
            updated_at=timezone.now(),
        )
        report.broadcast += moved


# --- 3. follow ----------------------------------------------------------------------------------


def _follow(w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport) -> None:
    rows = list(
        _rows(config, account, ChainTx.Status.BROADCAST, ChainTx.Status.INCLUDED).order_by("nonce")
    )
    if not rows:
        return
    final = final_block_number(w3, config)
    for chain_tx in rows:
        try:
            receipt = w3.eth.get_transaction_receipt(HexBytes(chain_tx.tx_hash))
        except TransactionNotFound:
            receipt = None
        if receipt is None:
            _resend_if_lost(chain_tx, report)
            continue
        block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
        if chain_tx.status == ChainTx.Status.BROADCAST or chain_tx.block_hash != block_hash:
            _record_inclusion(w3, chain_tx, receipt, report)
            if chain_tx.status == ChainTx.Status.FAILED:
                continue
        if receipt["blockNumber"] <= final:
            canonical = HexBytes(w3.eth.get_block(receipt["blockNumber"])["hash"]).to_0x_hex()
            if canonical == block_hash:
                chain_tx.status = ChainTx.Status.FINAL
                chain_tx.final_at = timezone.now()
                chain_tx.save(update_fields=["status", "final_at", "updated_at"])
                report.final += 1


def _resend_if_lost(chain_tx: ChainTx, report: PassReport) -> None:
    reorged = chain_tx.status == ChainTx.Status.INCLUDED
    forgotten = chain_tx.broadcast_at is None or (
        chain_tx.broadcast_at < timezone.now() - REBROADCAST_AFTER
    )
    if not (reorged or forgotten):
        return
    chain_tx.status = ChainTx.Status.SIGNED
    chain_tx.block_number = chain_tx.block_time = None
    chain_tx.block_hash = ""
    chain_tx.error = "Removed from the chain by a reorganisation" if reorged else ""
    chain_tx.save(
        update_fields=["status", "block_number", "block_time", "block_hash", "error", "updated_at"]
    )
    report.resent += 1


def _record_inclusion(w3: Web3, chain_tx: ChainTx, receipt: Any, report: PassReport) -> None:
    chain_tx.block_number = receipt["blockNumber"]
    chain_tx.block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
    timestamp = w3.eth.get_block(receipt["blockHash"])["timestamp"]
    chain_tx.block_time = datetime.fromtimestamp(timestamp, tz=UTC)
    chain_tx.gas_used = receipt["gasUsed"]
    if receipt["status"] == 1:
        chain_tx.status = ChainTx.Status.INCLUDED
        report.included += 1
    else:
        chain_tx.status = ChainTx.Status.FAILED
        chain_tx.error = f"Reverted on chain: {_revert_reason(w3, chain_tx, receipt)}"
        report.failed += 1
    chain_tx.save()


def _revert_reason(w3: Web3, chain_tx: ChainTx, receipt: Any) -> str:
    """Replay the call on the state it ran against to learn why it reverted."""
    target = contract(w3, chain_tx.contract)
    call = target.functions[chain_tx.function](*chain_tx.args)
    try:
        call.call({"from": chain_tx.sender}, block_identifier=receipt["blockNumber"] - 1)
    except (ContractLogicError, ContractCustomError) as exc:
        return describe_revert(chain_tx.contract, exc)
    return "unknown (the call succeeds when replayed)"
