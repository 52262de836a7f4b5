"""The indexer: reads the deployed contracts' events into ChainEvent rows and hands them to the
apps' handlers (DESIGN.md section 4, "Indexer").

One pass (`index_chain`) reads from the cursor up to the finality point only (money and awards
become final only at finality), in ranges of at most `CHAIN_MAX_LOG_RANGE` blocks, halving a
range the provider refuses. Each range is kept only if it was read from one version of the
chain that continues the blocks already stored:

- the header of its last block is read before and after its logs, and must not change (a reorg
  in between would change it, since a block's hash commits to all of its ancestors);
- the parent hash of its first block must be the stored hash of the block before it;
- every log's block hash must be the hash of the header read for that block.

The range's first and last block and every block holding an event are stored (ScannedBlock),
with the events and the moved cursor, in one transaction. The stored blocks need not be
contiguous: the highest one whose hash the chain still has is the fork point of any reorg.

A depth-based finality rule can be shallower than a reorg, so every pass first checks that the
chain still has the cursor's block. When it does not, the pass walks the stored blocks down to
the fork point and rolls back everything above it (handlers revert applied events, the events
are marked removed, the stored blocks deleted, the cursor moved back), then reads again.

Passes may run concurrently: the cursor moves only by a conditional update from the position a
pass read it at, and a pass whose update finds the cursor moved leaves the rest to the other.
An event's arguments are stored in the JSON form ledger/events.py defines (`stored_args`), next
to the typed payloads it decodes them into for the handlers. Plain eth_* calls only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from django.db import transaction
from django.utils import timezone
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from requests.exceptions import HTTPError, Timeout
from web3 import Web3
from web3.contract.contract import ContractEvent
from web3.exceptions import BlockNotFound, Web3RPCError
from web3.types import LogReceipt

from ledger.chain import chain_config, final_block_number, web3_client
from ledger.contracts import load_artifact
from ledger.events import stored_args
from ledger.handlers import chain_event_revert, chain_events_dispatch, chain_events_unapplied
from ledger.models import ChainEvent, ChainTx, Deployment, IndexerCursor, ScannedBlock

logger = logging.getLogger(__name__)

# Ranges read in one pass; the next pass (every few seconds) continues a long catch-up.
MAX_RANGES_PER_PASS = 100
# Stored block hashes kept below the cursor. A reorg deeper than this is beyond any chain's
# finality rule; should one happen, the walk finds no match and re-reads from the deployments.
SCANNED_BLOCKS_KEPT = 10_000
# What providers answer to a range with too many logs or blocks: "query returned more than
# 10000 results", "block range too large" (JSON-RPC errors or HTTP 4xx/5xx), or a timeout.
LOG_RANGE_REFUSALS = (Web3RPCError, HTTPError, Timeout)
# Decodes logs (its codec only: it has no node).
_DECODER = Web3()


class LogRangeError(RuntimeError):
    """The provider refused eth_getLogs even for a single block."""


@dataclass
class IndexReport:
    # Where the cursor ended; None when nothing is deployed on the chain yet, or when another
    # pass moved the cursor meanwhile and this one left the rest to it.
    cursor: int | None = None
    ranges: int = 0
    # Events read, counting again those read again (after a rollback, or with a lost cursor).
    events: int = 0
    applied: int = 0
    reorgs: int = 0
    # Events rolled back by reorgs, and how many of those had been applied and were reverted.
    removed: int = 0
    reverted: int = 0


@dataclass(frozen=True)
class _Emitter:
    """A deployed contract and its events by topic."""

    name: str
    address: ChecksumAddress
    events: Mapping[HexBytes, ContractEvent]


@dataclass(frozen=True)
class _Header:
    number: int
    hash: str
    parent_hash: str


@dataclass(frozen=True)
class _Range:
    end: int
    headers: Mapping[int, _Header]
    logs: Sequence[LogReceipt]


class _RangeRefused(Exception):
    pass


def index_chain(*, w3: Web3 | None = None) -> IndexReport:
    """One pass of the indexer over the configured chain, then dispatch of its new events."""
    w3 = w3 or web3_client()
    config = chain_config()
    report = IndexReport()
    deployments = list(Deployment.objects.filter(chain_id=config.chain_id))
    if not deployments:
        return report
    emitters = _emitters(deployments)
    # Nothing of ours exists before the first deployment.
    base = min(d.block_number for d in deployments) - 1
    cursor, _ = IndexerCursor.objects.get_or_create(
        chain_id=config.chain_id, defaults={"block_number": base}
    )
    position: int | None = cursor.block_number
    stored = _stored(config.chain_id, cursor.block_number)
    if stored is not None and _chain_hash(w3, stored.number) != stored.hash:
        position = _rewind(w3, config.chain_id, cursor.block_number, base, report)

    final = final_block_number(w3, config)
    size = config.max_log_range
    for _ in range(MAX_RANGES_PER_PASS):
        if position is None or position >= final:
            break
        start, end = position + 1, min(position + size, final)
        try:
            scan = _read(w3, emitters, start, end)
        except _RangeRefused as exc:
            if start == end:
                raise LogRangeError(f"eth_getLogs refused block {start}: {exc}") from exc
            size = max(1, (end - start + 1) // 2)
            logger.info("eth_getLogs refused %s..%s (%s); trying %s blocks", start, end, exc, size)
            continue
        if scan is None:
            logger.info("the chain changed while %s..%s was read; reading it again", start, end)
            continue
        previous = _stored(config.chain_id, position)
        if previous is not None and scan.headers[start].parent_hash != previous.hash:
            position = _rewind(w3, config.chain_id, position, base, report)
            continue
        if not _store(config.chain_id, emitters, position, scan, report):
            position = None
            break
        position = end
    if position is not None:
        report.cursor = position
    report.applied = chain_events_dispatch(chain_id=config.chain_id)
    return report


def chaintx_effects_pending(rows: Sequence[ChainTx]) -> bool:
    """Whether any of `rows` has yet to show in what the apps hold: not settled, or final on a
    block the indexer has not read, or with events its handlers have not applied. The sender
    marks a call final before the indexer applies its events, so a page that follows its calls
    until they land waits for this, not for the sender's final."""
    if any(not row.is_settled for row in rows):
        return True
    mined = [row for row in rows if row.status == ChainTx.Status.FINAL]
    if not mined:
        return False
    cursors = dict(
        IndexerCursor.objects.filter(chain_id__in={row.chain_id for row in mined}).values_list(
            "chain_id", "block_number"
        )
    )
    if any((row.block_number or 0) > cursors.get(row.chain_id, -1) for row in mined):
        return True
    return chain_events_unapplied(tx_hash__in={row.tx_hash for row in mined}).exists()


def _emitters(deployments: Sequence[Deployment]) -> dict[ChecksumAddress, _Emitter]:
    emitters = (_emitter(d.name, to_checksum_address(d.address)) for d in deployments)
    return {emitter.address: emitter for emitter in emitters}


@cache
def _emitter(name: str, address: ChecksumAddress) -> _Emitter:
    """`name` at `address` with its events by topic, decoded with its artifact's ABI. Built once
    per process: building a contract's events was half of an idle pass's time."""
    handle = _DECODER.eth.contract(address=address, abi=load_artifact(name).abi)
    return _Emitter(
        name=name,
        address=address,
        events={HexBytes(event.topic): event for event in handle.all_events()},
    )


def _stored(chain_id: int, number: int) -> ScannedBlock | None:
    return ScannedBlock.objects.filter(chain_id=chain_id, number=number).first()


def _header(w3: Web3, number: int) -> _Header:
    block = w3.eth.get_block(number)
    return _Header(
        number=number,
        hash=HexBytes(block["hash"]).to_0x_hex(),
        parent_hash=HexBytes(block["parentHash"]).to_0x_hex(),
    )


def _chain_hash(w3: Web3, number: int) -> str | None:
    """The hash the chain has at `number` now; None if it is shorter (a reset dev chain)."""
    try:
        return _header(w3, number).hash
    except BlockNotFound:
        return None


# --- reading ------------------------------------------------------------------------------------


def _read(
    w3: Web3, emitters: Mapping[ChecksumAddress, _Emitter], start: int, end: int
) -> _Range | None:
    """Logs and headers of blocks start..end, all from one version of the chain, or None if the
    chain changed while they were read."""
    last = _header(w3, end)
    headers = {end: last}
    if start not in headers:
        headers[start] = _header(w3, start)
    try:
        logs = w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": list(emitters)})
    except LOG_RANGE_REFUSALS as exc:
        raise _RangeRefused(str(exc)) from exc
    for log in logs:
        number = log["blockNumber"]
        if number not in headers:
            headers[number] = _header(w3, number)
        if headers[number].hash != HexBytes(log["blockHash"]).to_0x_hex():
            return None
    if _header(w3, end) != last:
        return None
    return _Range(end=end, headers=headers, logs=logs)


def _event(
    chain_id: int, emitters: Mapping[ChecksumAddress, _Emitter], log: LogReceipt
) -> ChainEvent | None:
    emitter = emitters[to_checksum_address(log["address"])]
    event = emitter.events.get(HexBytes(log["topics"][0])) if log["topics"] else None
    if event is None:
        # Only an ABI that does not match the deployed code could cause this: say so, go on.
        logger.warning(
            "log %s in tx %s: no event of %s has this topic",
            log["logIndex"],
            HexBytes(log["transactionHash"]).to_0x_hex(),
            emitter.name,
        )
        return None
    return ChainEvent(
        chain_id=chain_id,
        block_number=log["blockNumber"],
        block_hash=HexBytes(log["blockHash"]).to_0x_hex(),
        log_index=log["logIndex"],
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
        contract=emitter.name,
        address=emitter.address,
        name=event.name,
        args=stored_args(event.process_log(log)["args"]),
    )


# --- storing and rolling back -------------------------------------------------------------------


def _store(
    chain_id: int,
    emitters: Mapping[ChecksumAddress, _Emitter],
    position: int,
    scan: _Range,
    report: IndexReport,
) -> bool:
    """Keeps a range read on top of `position`; False if another pass moved the cursor."""
    events = [e for log in scan.logs if (e := _event(chain_id, emitters, log)) is not None]
    with transaction.atomic():
        moved = IndexerCursor.objects.filter(chain_id=chain_id, block_number=position).update(
            block_number=scan.end
        )
        if not moved:
            return False
        ScannedBlock.objects.bulk_create(
            [
                ScannedBlock(
                    chain_id=chain_id, number=h.number, hash=h.hash, parent_hash=h.parent_hash
                )
                for h in scan.headers.values()
            ],
            update_conflicts=True,
            unique_fields=["chain_id", "number"],
            update_fields=["hash", "parent_hash"],
        )
        # An event seen again in the same block (a reorg that came back) is live again, and
        # unapplied since its rollback, so it is dispatched again.
        ChainEvent.objects.bulk_create(
            events,
            update_conflicts=True,
            unique_fields=["chain_id", "block_hash", "log_index"],
            update_fields=["removed", "removed_at"],
        )
        ScannedBlock.objects.filter(
            chain_id=chain_id, number__lt=scan.end - SCANNED_BLOCKS_KEPT
        ).delete()
    report.ranges += 1
    report.events += len(events)
    return True


def _rewind(w3: Web3, chain_id: int, position: int, base: int, report: IndexReport) -> int | None:
    """Rolls back everything above the fork point below `position` and returns the fork point,
    the new cursor; None if another pass moved the cursor meanwhile."""
    fork = base
    stored = ScannedBlock.objects.filter(chain_id=chain_id, number__lte=position)
    for block in stored.order_by("-number").iterator():
        if _chain_hash(w3, block.number) == block.hash:
            fork = block.number
            break
    with transaction.atomic():
        moved = IndexerCursor.objects.filter(chain_id=chain_id, block_number=position).update(
            block_number=fork
        )
        if not moved:
            return None
        rolled_back = ChainEvent.objects.filter(
            chain_id=chain_id, block_number__gt=fork, removed=False
        )
        applied = list(rolled_back.filter(applied=True).order_by("-block_number", "-log_index"))
        for event in applied:
            chain_event_revert(event=event)
        removed = rolled_back.update(removed=True, removed_at=timezone.now(), applied=False)
        ScannedBlock.objects.filter(chain_id=chain_id, number__gt=fork).delete()
    logger.warning(
        "chain %s reorganised: blocks %s..%s rolled back (%s events, %s reverted)",
        chain_id,
        fork + 1,
        position,
        removed,
        len(applied),
    )
    report.reorgs += 1
    report.removed += removed
    report.reverted += len(applied)
    return fork
