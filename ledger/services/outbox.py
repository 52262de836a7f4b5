"""Queueing chain writes (DESIGN.md section 4, "Outbox and sender").

A business change that needs a chain write calls `chaintx_enqueue` inside its own database
transaction: the ChainTx row commits or rolls back with the change, and its idempotency key makes
a repeated request a no-op. The sender (ledger/services/sender/) picks the row up after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger.breakers import breaker
from ledger.chain import chain_config, operator_account
from ledger.models import ChainTx

AbiValue = str | int | bool | Sequence["AbiValue"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ChainCall:
    """A chain write to queue: `contract.function(*args)`, as `chaintx_enqueue` takes it."""

    idempotency_key: str
    contract: str
    function: str
    args: Sequence[AbiValue]
    sender: str | None = None
    waits_for: ChainTx | int | None = None
    not_before: datetime | None = None


def chaintx_enqueue(
    *,
    idempotency_key: str,
    contract: str,
    function: str,
    args: Sequence[AbiValue],
    sender: str | None = None,
    waits_for: ChainTx | int | None = None,
    not_before: datetime | None = None,
) -> ChainTx:
    """Queue `contract.function(*args)`; bytes go as 0x-hex strings. It is sent from the operator
    wallet, or from `sender` (an address whose key is kept here, ledger/signers.py). With
    `waits_for` (a row or its id), it is signed only once that transaction is mined (a call that
    needs its effect, such as `fund` after the token `approve`), and fails if that one fails. With
    `not_before`, it is signed only once the chain's latest block is that late (a call the
    contract refuses before a deadline: block time lags our clock).
    Returns the existing row when the key was queued before."""
    (chain_tx,) = chaintx_enqueue_many(
        [
            ChainCall(
                idempotency_key=idempotency_key,
                contract=contract,
                function=function,
                args=args,
                sender=sender,
                waits_for=waits_for,
                not_before=not_before,
            )
        ]
    )
    return chain_tx


def chaintx_enqueue_many(calls: Sequence[ChainCall]) -> list[ChainTx]:
    """`chaintx_enqueue` for many calls in two statements, whatever their number: their rows, in
    the order of `calls`. Their keys must differ."""
    # INSERT ... ON CONFLICT DO NOTHING: a key queued before, or by a concurrent request, keeps
    # its row (no savepoint, no error), and the row read back is the one that stands.
    ChainTx.objects.bulk_create(chaintx_rows(calls), ignore_conflicts=True)
    stored = ChainTx.objects.in_bulk(
        [call.idempotency_key for call in calls], field_name="idempotency_key"
    )
    rows = [stored[call.idempotency_key] for call in calls]
    chaintx_wake_after_commit(rows)
    return rows


def chaintx_rows(calls: Sequence[ChainCall]) -> list[ChainTx]:
    """The new outbox rows of `calls`, not saved: what `chaintx_enqueue_many` inserts, for a
    caller that inserts them in a statement of its own (printshops.services.bid_rows), and then
    calls `chaintx_wake_after_commit` with the rows that stand."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("chaintx_enqueue must run inside the business change's transaction")
    chain_id, operator = chain_config().chain_id, operator_account().address
    return [
        ChainTx(
            idempotency_key=call.idempotency_key,
            chain_id=chain_id,
            sender=call.sender or operator,
            contract=call.contract,
            function=call.function,
            args=list(call.args),
            waits_for_id=(
                call.waits_for.pk if isinstance(call.waits_for, ChainTx) else call.waits_for
            ),
            not_before=call.not_before,
        )
        for call in calls
    ]


def chaintx_wake_after_commit(rows: Sequence[ChainTx]) -> None:
    """Wake the sender once the transaction commits, if any of the rows queued waits for it."""
    if any(row.status == ChainTx.Status.PENDING for row in rows):
        transaction.on_commit(_wake_sender)


def action_idempotency_key(base: str) -> str:
    """The idempotency key of a person's action: the same as the last try unless it failed, so
    that double clicks are one call and a failed call can be tried again."""
    tries = ChainTx.objects.filter(
        Q(idempotency_key=base) | Q(idempotency_key__startswith=base + "#")
    )
    latest = tries.order_by("-id").first()
    if latest is None:
        return base
    if latest.status == ChainTx.Status.FAILED:
        return f"{base}#{tries.count() + 1}"
    return latest.idempotency_key


#: Seconds the wake-ups skip a broker that failed one (beat still runs the sender meanwhile).
BROKER_BACKOFF = 30


def _wake_sender() -> None:
    """Ask the sender to run now. Only a nudge, after the commit: the row is the source of truth
    and beat runs the sender every few seconds anyway, so a broker that cannot take the task
    costs at most one request a few seconds (and those that follow for BROKER_BACKOFF nothing),
    never an error for a request that already took effect: a 500 would invite a second try."""
    from ledger.tasks import send_chain_transactions_task

    guard = breaker("broker")
    if guard.open_for():
        return
    try:
        send_chain_transactions_task.apply_async(retry=False)
    except Exception as exc:  # kombu's OperationalError, a refused or reset connection, a full disk
        guard.trip(
            f"the broker refused the sender's wake-up ({type(exc).__name__})", BROKER_BACKOFF
        )
        logger.warning(
            "the broker did not take the sender's wake-up; beat will run it", exc_info=True
        )


@transaction.atomic
def chaintx_redrive(*, chain_tx: ChainTx) -> ChainTx:
    """An operator's second chance for a transaction: a failed one is queued again (it gets a new
    nonce when signed; calls that failed with it in a batch are queued again too), a broadcast
    one is re-sent with its stored bytes."""
    chain_tx = ChainTx.objects.select_for_update().get(pk=chain_tx.pk)
    if chain_tx.status == ChainTx.Status.FAILED:
        rows = ChainTx.objects.filter(
            Q(pk=chain_tx.pk) | Q(batch_head=chain_tx), status=ChainTx.Status.FAILED
        )
        rows.update(
            status=ChainTx.Status.PENDING,
            batch_head=None,
            nonce=None,
            gas_limit=None,
            raw_tx=None,
            tx_hash="",
            replaced_hashes=[],
            block_number=None,
            block_hash="",
            block_time=None,
            broadcast_at=None,
            updated_at=timezone.now(),
        )
    elif chain_tx.status == ChainTx.Status.BROADCAST:
        # A batch's member is re-sent by re-sending its head.
        ChainTx.objects.filter(
            Q(pk=chain_tx.batch_head_id or chain_tx.pk)
            | Q(batch_head=chain_tx.batch_head_id or chain_tx.pk)
        ).update(status=ChainTx.Status.SIGNED, updated_at=timezone.now())
    else:
        return chain_tx
    transaction.on_commit(_wake_sender)
    chain_tx.refresh_from_db()
    return chain_tx
