"""What the sender's steps share: the pass report, the wallet's rows, batched calls and their
batched rows, and signatures."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.types import TxParams, Wei

from ledger.chain import (
    ChainConfig,
)
from ledger.contracts import contract_address, decode_custom_error, encode_call
from ledger.models import ChainTx

# Calls with a batch form, and how many one transaction carries (about 5M gas of registrations
# or anchors: well inside a block).
BATCH_FORMS = {
    ("DesignRegistry", "register"): "registerMany",
    ("RecordAnchor", "anchor"): "anchorMany",
    ("AuctionHouse", "commitFor"): "commitMany",
}


@dataclass
class PassReport:
    signed: int = 0
    broadcast: int = 0
    included: int = 0
    final: int = 0
    failed: int = 0
    resent: int = 0
    bumped: int = 0
    #: Gas transfers the operator queued for kept wallets that lacked it.
    topped_up: int = 0


def wallet_rows(config: ChainConfig, account: LocalAccount, *statuses: str) -> QuerySet[ChainTx]:
    """The wallet's transactions in these states; a batch's members go with its head."""
    return ChainTx.objects.filter(
        chain_id=config.chain_id, sender=account.address, status__in=statuses, batch_head=None
    )


#: The `contract` of an outbox row that sends the chain's native coin: args [to, amount in wei].
NATIVE = "native"


def call_params(rows: list[ChainTx], chain_id: int) -> TxParams:
    """Where the transaction that carries `rows` goes, with its data (and value)."""
    first = rows[0]
    if first.contract == NATIVE:
        to, amount = first.args
        return {"to": to, "value": Wei(int(amount)), "data": b""}
    return {"to": contract_address(first.contract, chain_id), "data": calldata_for(rows)}


def calldata_for(rows: list[ChainTx]) -> bytes:
    """The calldata that carries `rows`: the row's own call, or the batch form over all."""
    first = rows[0]
    if len(rows) == 1:
        return encode_call(first.contract, first.function, first.args)
    columns = [list(column) for column in zip(*(row.args for row in rows), strict=True)]
    return encode_call(first.contract, BATCH_FORMS[(first.contract, first.function)], columns)


def batch_rows(chain_tx: ChainTx) -> list[ChainTx]:
    return [chain_tx, *chain_tx.batch_members.order_by("id")]


def batch_rows_sync(heads: list[ChainTx]) -> None:
    """A batch's members take on its head's state."""
    for head in heads:
        ChainTx.objects.filter(batch_head=head).update(
            status=head.status,
            tx_hash=head.tx_hash,
            block_number=head.block_number,
            block_hash=head.block_hash,
            block_time=head.block_time,
            error=head.error,
            broadcast_at=head.broadcast_at,
            final_at=head.final_at,
            updated_at=timezone.now(),
        )


def store_signature(chain_tx: ChainTx, signed: SignedTransaction, fees: TxParams) -> None:
    chain_tx.max_fee_per_gas = str(fees.get("maxFeePerGas", fees.get("gasPrice", 0)))
    chain_tx.max_priority_fee_per_gas = str(fees.get("maxPriorityFeePerGas", ""))
    chain_tx.raw_tx = bytes(signed.raw_transaction)
    chain_tx.tx_hash = HexBytes(signed.hash).to_0x_hex()
    chain_tx.status = ChainTx.Status.SIGNED
    chain_tx.error = ""


def describe_revert(contract_name: str, exc: Exception) -> str:
    """A revert as a person reads it: the contract's custom error with its arguments."""
    data = getattr(exc, "data", None)
    if isinstance(data, str | bytes):
        error = decode_custom_error(contract_name, data)
        if error is not None:
            return str(error)
    return str(getattr(exc, "message", None) or exc)
