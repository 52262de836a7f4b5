"""The accepted sealed bids' rows, written on PostgreSQL in one prepared statement (issue 18).

`bids_commit` (printshops.services.bids) checks the bids with their jobs locked, then stores
each accepted bid's three rows: its outbox row (the AuctionHouse's commitFor call), the Bid
itself, inserted or replaced by its new version, and its audit event. Through the ORM that is
four statements, and storing took half of `bids_commit`'s time in a bulk request (py-spy
over bench/bids.py's workers). Here they are one statement, prepared once per connection:

- the rows are the ones the ORM path would insert: made by the same functions
  (`ledger.services.outbox.chaintx_rows`, `marketplace.services.audit.audit_events`, and the
  Bid instances of `bids_commit`), and turned into columns by config.rows, with each model
  field's own conversion, so a default or a field added to a model is written here too;
- an outbox row whose key was queued before stands, as `chaintx_enqueue_many` keeps it;
- the Bid is upserted on (job, organization), replacing only a lower version.

SQLite (the embedded default) has neither data-modifying WITH nor `unnest`, and stores through
the ORM; tests/printshops/test_bid_rows.py checks that both write the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, cast

from django.db import transaction
from django.db.models import Field, Model

from config import rows
from ledger.models import ChainTx
from ledger.services.outbox import ChainCall, chaintx_rows, chaintx_wake_after_commit
from marketplace.models import AuditEvent, User
from marketplace.services.audit import AuditEntry, audit_events
from printshops.models import Bid

# What a new version replaces of the Bid (the ORM path's update_fields).
BID_REPLACED = ("shop_address", "commitment", "version", "signature", "commit_tx", "updated_at")
# What the answer shows of the outbox row (printshops.apis.chain.ChainTxOutput).
_RELAY_SHOWN = ("id", "idempotency_key", "status", "tx_hash", "block_number", "error")
# The columns the statement fills itself, not the rows.
_WRITTEN: dict[type[Model], tuple[str, ...]] = {
    ChainTx: (),
    Bid: ("commit_tx",),  # the outbox row's id, from the statement
    AuditEvent: ("target_id",),  # the bid's id, from the statement
}


def _columns(model: type[Model], table: str = "") -> str:
    return rows.columns(model, _WRITTEN[model], table)


def _arrays(model: type[Model]) -> str:
    return rows.arrays(model, _WRITTEN[model])


@cache
def _statement() -> str:
    """The statement, made once from the models (nothing in it comes from a request)."""
    relay, bid, audit = ChainTx._meta.db_table, Bid._meta.db_table, AuditEvent._meta.db_table
    shown = ", ".join(_RELAY_SHOWN)
    replaced = ", ".join(
        f"{column} = excluded.{column}"
        for column in (
            cast("Field[Any, Any]", Bid._meta.get_field(name)).column for name in BID_REPLACED
        )
    )
    return f"""
    WITH relay_given AS (
        SELECT * FROM unnest({_arrays(ChainTx)}) AS given ({_columns(ChainTx)})
    ), relay_new AS (
        INSERT INTO {relay} ({_columns(ChainTx)})
        SELECT {_columns(ChainTx)} FROM relay_given
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING {shown}
    ), relay AS (
        SELECT {shown} FROM relay_new
        UNION ALL
        SELECT {shown} FROM {relay} WHERE idempotency_key = ANY(%(relay_keys)b::text[])
    ), bid_given AS (
        SELECT * FROM unnest({_arrays(Bid)}, %(relay_keys)b::text[])
        AS given ({_columns(Bid)}, relay_key)
    ), bid AS (
        INSERT INTO {bid} ({_columns(Bid)}, commit_tx_id)
        SELECT {_columns(Bid, "bid_given")}, relay.id
        FROM bid_given JOIN relay ON relay.idempotency_key = bid_given.relay_key
        ON CONFLICT (job_id, organization_id) DO UPDATE SET {replaced}
        WHERE {bid}.version < excluded.version
        RETURNING id, job_id, commit_tx_id
    ), audit_given AS (
        SELECT * FROM unnest({_arrays(AuditEvent)}, %(audit_jobs)b::bigint[])
        AS given ({_columns(AuditEvent)}, job)
    ), audit AS (
        INSERT INTO {audit} ({_columns(AuditEvent)}, target_id)
        SELECT {_columns(AuditEvent, "audit_given")}, bid.id::text
        FROM audit_given JOIN bid ON bid.job_id = audit_given.job
    )
    SELECT bid.job_id, {", ".join(f"relay.{name}" for name in _RELAY_SHOWN)}, bid.id
    FROM bid JOIN relay ON relay.id = bid.commit_tx_id
    """  # noqa: S608 - table and column names from the models, values bound


def bid_rows_store(
    actor: User, bids: list[Bid], calls: Sequence[ChainCall], events: Sequence[AuditEntry]
) -> None:
    """Store the accepted `bids` with their outbox rows (`calls`) and audit events (`events`,
    one a bid), each in the bids' order, in one statement; set each bid's id and `commit_tx`."""
    # The connection itself, not django.db.connection: the conversions look it up thousands of
    # times in a bulk request, and through the proxy each lookup is a thread-local one.
    db = transaction.get_connection()
    params = {
        **rows.values(db, ChainTx, chaintx_rows(calls), _WRITTEN[ChainTx]),
        **rows.values(db, Bid, bids, _WRITTEN[Bid]),
        **rows.values(
            db, AuditEvent, audit_events(actor=actor, events=events), _WRITTEN[AuditEvent]
        ),
        "relay_keys": [call.idempotency_key for call in calls],
        "audit_jobs": [bid.job_id for bid in bids],
    }
    stored = {row[0]: row[1:] for row in rows.execute(db, _statement(), params)}
    if len(stored) != len(bids):
        # The jobs' locks and the versions read under them make this unreachable.
        raise RuntimeError(f"{len(bids) - len(stored)} of the bids were not stored")
    for bid in bids:
        *shown, bid.pk = stored[bid.job_id]
        bid.commit_tx = ChainTx.from_db(db.alias, list(_RELAY_SHOWN), shown)
    chaintx_wake_after_commit([bid.commit_tx for bid in bids if bid.commit_tx is not None])
