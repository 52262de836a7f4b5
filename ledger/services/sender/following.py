"""Step 3: follow sent transactions to their receipts and to finality (see the package
docstring)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, TxParams

from ledger.chain import (
    ChainConfig,
    final_block_number,
)
from ledger.models import ChainTx
from ledger.services.sender.common import (
    PassReport,
    batch_rows,
    batch_rows_sync,
    call_params,
    describe_revert,
    wallet_rows,
)
from ledger.services.sender.signing import bump

logger = logging.getLogger(__name__)


RPC_BATCH = 500


REBROADCAST_AFTER = timedelta(seconds=30)


# A transaction not mined this long after it first went out gets its fees raised.
STUCK_AFTER = timedelta(minutes=2)


def follow(w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport) -> None:
    rows = list(
        wallet_rows(config, account, ChainTx.Status.BROADCAST, ChainTx.Status.INCLUDED).order_by(
            "nonce"
        )
    )
    if not rows:
        return
    # Read before the receipts: a nonce below it with no receipt of ours was used by another tx.
    mined_nonce = w3.eth.get_transaction_count(account.address, "latest")
    final = final_block_number(w3, config)
    receipts = _receipts(w3, rows)
    new_blocks = sorted(
        {
            r["blockHash"]
            for row, r in zip(rows, receipts, strict=True)
            if r and r["blockHash"] != row.block_hash
        }
    )
    blocks = dict(
        zip(
            new_blocks,
            rpc_batch(w3, "eth_getBlockByHash", [[h, False] for h in new_blocks]),
            strict=True,
        )
    )
    final_numbers = sorted(
        {int(r["blockNumber"], 16) for r in receipts if r and int(r["blockNumber"], 16) <= final}
    )
    canonical = {
        n: block["hash"] if block else None
        for n, block in zip(
            final_numbers,
            rpc_batch(w3, "eth_getBlockByNumber", [[hex(n), False] for n in final_numbers]),
            strict=True,
        )
    }
    heads = set(
        ChainTx.objects.filter(batch_head__in=rows)
        .values_list("batch_head_id", flat=True)
        .distinct()
    )
    touched: list[ChainTx] = []
    # What needs the node is asked before the transaction: rows without a receipt (re-sent or
    # bumped one by one), and why newly mined ones reverted.
    reverted: dict[int, str] = {}
    for chain_tx, receipt in zip(rows, receipts, strict=True):
        if receipt is None:
            _resend_if_lost(w3, config, account, chain_tx, mined_nonce, report)
            touched.append(chain_tx)
        elif int(receipt["status"], 16) != 1 and _newly_mined(chain_tx, receipt):
            chain_tx.block_number = int(receipt["blockNumber"], 16)
            reverted[chain_tx.pk] = _revert_reason(w3, chain_tx)
    # One commit for the rest of the pass rather than one or two per row.
    with transaction.atomic():
        for chain_tx, receipt in zip(rows, receipts, strict=True):
            if receipt is None:
                continue
            changed = chain_tx.block_hash != receipt["blockHash"]
            if _newly_mined(chain_tx, receipt):
                _record_inclusion(
                    chain_tx,
                    receipt,
                    blocks[receipt["blockHash"]],
                    reverted.get(chain_tx.pk),
                    report,
                )
                changed = True
            if chain_tx.status != ChainTx.Status.FAILED and (
                canonical.get(chain_tx.block_number or -1) == chain_tx.block_hash
            ):
                chain_tx.status = ChainTx.Status.FINAL
                chain_tx.final_at = timezone.now()
                report.final += 1
                changed = True
            if changed:
                chain_tx.save()
                touched.append(chain_tx)
        batch_rows_sync([row for row in touched if row.pk in heads])


def _receipts(w3: Web3, rows: list[ChainTx]) -> list[dict[str, Any] | None]:
    """Each row's receipt. A row whose fees were bumped has several signatures of one nonce;
    whichever was mined is the row's transaction from then on."""
    receipts = rpc_batch(w3, "eth_getTransactionReceipt", [[row.tx_hash] for row in rows])
    earlier = [
        (index, old)
        for index, row in enumerate(rows)
        if receipts[index] is None
        for old in row.replaced_hashes
    ]
    if earlier:
        found = rpc_batch(w3, "eth_getTransactionReceipt", [[old] for _, old in earlier])
        for (index, old), receipt in zip(earlier, found, strict=True):
            if receipt is not None:
                row = rows[index]
                row.replaced_hashes = [h for h in row.replaced_hashes if h != old] + [row.tx_hash]
                row.tx_hash = old
                receipts[index] = receipt
    return receipts


def rpc_batch(w3: Web3, method: str, params: list[list[Any]]) -> list[Any]:
    """Plain eth_* reads in JSON-RPC batches: each request's raw result (None where the node has
    nothing), in order."""
    provider = cast(JSONBaseProvider, w3.provider)
    results: list[Any] = []
    for start in range(0, len(params), RPC_BATCH):
        answers = provider.make_batch_request(
            [(RPCEndpoint(method), p) for p in params[start : start + RPC_BATCH]]
        )
        if not isinstance(answers, list):
            raise ConnectionError(f"{method}: the node refused the batch: {answers.get('error')}")
        for answer in answers:
            if answer.get("error"):
                raise ConnectionError(f"{method}: {answer['error']}")
            results.append(answer.get("result"))
    return results


def _resend_if_lost(
    w3: Web3,
    config: ChainConfig,
    account: LocalAccount,
    chain_tx: ChainTx,
    mined_nonce: int,
    report: PassReport,
) -> None:
    reorged = chain_tx.status == ChainTx.Status.INCLUDED
    if not reorged and chain_tx.nonce is not None and chain_tx.nonce < mined_nonce:
        if _node_knows(w3, chain_tx):
            # Ours took the nonce: a node may count it a moment before it serves the receipt
            # (anvil does, foundry-rs/foundry#10944). The next pass reads the receipt.
            return
        chain_tx.status = ChainTx.Status.FAILED
        chain_tx.error = (
            f"Nonce {chain_tx.nonce} was used by another transaction of this wallet; "
            "re-drive this one to send it again."
        )
        chain_tx.save(update_fields=["status", "error", "updated_at"])
        report.failed += 1
        return
    now = timezone.now()
    if not reorged and chain_tx.broadcast_at and chain_tx.broadcast_at < now - STUCK_AFTER:
        bump(w3, config, account, chain_tx)
        report.bumped += 1
        return
    if not (reorged or chain_tx.updated_at < now - REBROADCAST_AFTER):
        return
    chain_tx.status = ChainTx.Status.SIGNED
    chain_tx.block_number = chain_tx.block_time = None
    chain_tx.block_hash = ""
    chain_tx.error = "Removed from the chain by a reorganisation" if reorged else ""
    chain_tx.save(
        update_fields=["status", "block_number", "block_time", "block_hash", "error", "updated_at"]
    )
    report.resent += 1


def _node_knows(w3: Web3, chain_tx: ChainTx) -> bool:
    """Whether the node has any signature of this row (mined or pending)."""
    hashes = [chain_tx.tx_hash, *chain_tx.replaced_hashes]
    return any(rpc_batch(w3, "eth_getTransactionByHash", [[h] for h in hashes]))


def _newly_mined(chain_tx: ChainTx, receipt: dict[str, Any]) -> bool:
    """Mined since the last pass, or mined again in another block after a reorg."""
    return (
        chain_tx.status == ChainTx.Status.BROADCAST or chain_tx.block_hash != receipt["blockHash"]
    )


def _record_inclusion(
    chain_tx: ChainTx,
    receipt: dict[str, Any],
    block: dict[str, Any],
    revert_reason: str | None,
    report: PassReport,
) -> None:
    chain_tx.block_number = int(receipt["blockNumber"], 16)
    chain_tx.block_hash = receipt["blockHash"]
    chain_tx.block_time = datetime.fromtimestamp(int(block["timestamp"], 16), tz=UTC)
    chain_tx.gas_used = int(receipt["gasUsed"], 16)
    if int(receipt["status"], 16) == 1:
        chain_tx.status = ChainTx.Status.INCLUDED
        report.included += 1
    else:
        chain_tx.status = ChainTx.Status.FAILED
        chain_tx.error = f"Reverted on chain: {revert_reason}"
        report.failed += 1


def _revert_reason(w3: Web3, chain_tx: ChainTx) -> str:
    """Replay the call on the state it ran against to learn why it reverted."""
    call: TxParams = {
        "from": chain_tx.sender,
        **call_params(batch_rows(chain_tx), chain_tx.chain_id),
    }
    try:
        w3.eth.call(call, block_identifier=(chain_tx.block_number or 1) - 1)
    except (ContractLogicError, ContractCustomError) as exc:
        return describe_revert(chain_tx.contract, exc)
    return "unknown (the call succeeds when replayed)"
