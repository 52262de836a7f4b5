"""The sender: signs, broadcasts and follows the outbox's transactions (DESIGN.md section 4).

One pass (`chaintx_process`) does three things, each safe to repeat and to interrupt anywhere:

1. **Sign** pending rows in order, under the wallet's row lock: assign the next nonce, estimate
   gas, set fees, sign, and store the raw bytes and hash in the same transaction. A call that
   would revert fails here with its reason and consumes no nonce. Calls with a batch form
   (BATCH_FORMS) travel together in one transaction; if the batch would revert, its calls are
   sent one by one so that only the bad one fails.
2. **Broadcast** signed rows, lowest nonce first, re-sending exactly the stored bytes. A node
   that already has them ("already known") counts as success; so does "nonce too low", which
   means the transaction was mined (the receipt step then tells whose it was).
3. **Follow** broadcast rows to their receipts and included rows to finality. A transaction a
   reorg removed goes back to signed and is re-sent (same bytes, same nonce); one the node forgot
   is re-sent after REBROADCAST_AFTER; one still not mined after STUCK_AFTER is signed again
   with the same nonce and higher fees, and whichever signature is mined counts.

A worker killed at any point leaves rows in a state the next pass continues from: nothing is
lost (rows commit before broadcast) and nothing is sent twice (re-sends are the same bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
)
from web3.providers import JSONBaseProvider
from web3.types import Nonce, RPCEndpoint, TxParams

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

SIGN_BATCH = 500
# Calls with a batch form, and how many one transaction carries (about 5M gas of registrations
# or anchors: well inside a block).
BATCH_FORMS = {
    ("DesignRegistry", "register"): "registerMany",
    ("RecordAnchor", "anchor"): "anchorMany",
}
CALLS_PER_TX = 100
BROADCAST_BATCH = 500
RPC_BATCH = 500
REBROADCAST_AFTER = timedelta(seconds=30)
# A transaction not mined this long after it first went out gets its fees raised.
STUCK_AFTER = timedelta(minutes=2)
FEE_BUMP_PERCENT = 12
# Headroom over eth_estimateGas: state can move between estimating and mining.
GAS_MARGIN_PERCENT = 20
FEE_TOO_LOW = ("underpriced", "fee too low", "less than block base fee")
SENT_ALREADY = (
    "already known",
    "known transaction",
    "already imported",
    "nonce too low",
    "nonce is too low",
)


@dataclass
class PassReport:
    signed: int = 0
    broadcast: int = 0
    included: int = 0
    final: int = 0
    failed: int = 0
    resent: int = 0
    bumped: int = 0


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
    """The wallet's transactions in these states; rows carried in a batch go with their carrier."""
    return ChainTx.objects.filter(
        chain_id=config.chain_id, sender=account.address, status__in=statuses, carrier=None
    )


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


def _call(target: Contract, rows: list[ChainTx]) -> ContractFunction:
    """The contract call that carries `rows`: the row's own call, or the batch form over all."""
    first = rows[0]
    if len(rows) == 1:
        return target.functions[first.function](*first.args)
    columns = [list(column) for column in zip(*(row.args for row in rows), strict=True)]
    return target.functions[BATCH_FORMS[(first.contract, first.function)]](*columns)


def _carried(chain_tx: ChainTx) -> list[ChainTx]:
    return [chain_tx, *chain_tx.carried.order_by("id")]


def _sync_carried(carriers: list[ChainTx]) -> None:
    """Rows carried in a batch take on their carrier's state."""
    for carrier in carriers:
        ChainTx.objects.filter(carrier=carrier).update(
            status=carrier.status,
            tx_hash=carrier.tx_hash,
            block_number=carrier.block_number,
            block_hash=carrier.block_hash,
            block_time=carrier.block_time,
            error=carrier.error,
            broadcast_at=carrier.broadcast_at,
            final_at=carrier.final_at,
            updated_at=timezone.now(),
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
    call = _call(target, rows)
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
    _store_signature(chain_tx, signed, fees)
    chain_tx.save()
    ChainTx.objects.filter(pk__in=[row.pk for row in rows[1:]]).update(carrier=chain_tx)
    _sync_carried([chain_tx])
    return True


def _store_signature(chain_tx: ChainTx, signed: SignedTransaction, fees: TxParams) -> None:
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


# --- 2. broadcast -------------------------------------------------------------------------------


def _broadcast_signed(
    w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport
) -> None:
    """Send every signed transaction, lowest nonce first, in JSON-RPC batches: one round trip
    for many transactions instead of one each."""
    rows = list(_rows(config, account, ChainTx.Status.SIGNED).order_by("nonce"))
    provider = cast(JSONBaseProvider, w3.provider)
    for start in range(0, len(rows), BROADCAST_BATCH):
        chunk = rows[start : start + BROADCAST_BATCH]
        answers = provider.make_batch_request(
            [
                (RPCEndpoint("eth_sendRawTransaction"), [HexBytes(row.raw_tx or b"").to_0x_hex()])
                for row in chunk
            ]
        )
        if not isinstance(answers, list):  # the node refused the whole batch
            answers = [answers] * len(chunk)
        sent = []
        for row, answer in zip(chunk, answers, strict=True):
            error = answer.get("error")
            message = str(error.get("message", error) if isinstance(error, dict) else error or "")
            # Already known or already mined: the receipt step tells which.
            if error is None or any(text in message.lower() for text in SENT_ALREADY):
                sent.append(row.pk)
                continue
            if any(text in message.lower() for text in FEE_TOO_LOW):
                # Fees rose since it was signed: sign again with today's, sent next pass.
                _bump(w3, config, account, row)
                report.bumped += 1
                continue
            ChainTx.objects.filter(pk=row.pk).update(
                error=message, attempts=F("attempts") + 1, updated_at=timezone.now()
            )
            logger.warning("broadcast of %s failed: %s", row.idempotency_key, message)
        now = timezone.now()
        ChainTx.objects.filter(carrier__in=sent, status=ChainTx.Status.SIGNED).update(
            status=ChainTx.Status.BROADCAST,
            broadcast_at=Coalesce(F("broadcast_at"), Value(now)),
            updated_at=now,
        )
        report.broadcast += ChainTx.objects.filter(
            pk__in=sent, status=ChainTx.Status.SIGNED
        ).update(
            status=ChainTx.Status.BROADCAST,
            # When this signature first went out: how long it has been stuck.
            broadcast_at=Coalesce(F("broadcast_at"), Value(now)),
            attempts=F("attempts") + 1,
            error="",
            updated_at=now,
        )


# --- 3. follow ----------------------------------------------------------------------------------


def _follow(w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport) -> None:
    rows = list(
        _rows(config, account, ChainTx.Status.BROADCAST, ChainTx.Status.INCLUDED).order_by("nonce")
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
    carriers = set(
        ChainTx.objects.filter(carrier__in=rows).values_list("carrier_id", flat=True).distinct()
    )
    touched: list[ChainTx] = []
    # One commit for the whole pass rather than one or two per row.
    with transaction.atomic():
        for chain_tx, receipt in zip(rows, receipts, strict=True):
            if receipt is None:
                _resend_if_lost(w3, config, account, chain_tx, mined_nonce, report)
                touched.append(chain_tx)
                continue
            changed = chain_tx.block_hash != receipt["blockHash"]
            if chain_tx.status == ChainTx.Status.BROADCAST or changed:
                _record_inclusion(w3, chain_tx, receipt, blocks[receipt["blockHash"]], report)
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
        _sync_carried([row for row in touched if row.pk in carriers])


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
        _bump(w3, config, account, chain_tx)
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


def _raised(fee: str) -> int:
    """The fee raised by FEE_BUMP_PERCENT, rounded up."""
    return -(-int(fee or 0) * (100 + FEE_BUMP_PERCENT) // 100)


def _bump(w3: Web3, config: ChainConfig, account: LocalAccount, chain_tx: ChainTx) -> None:
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
    call = _call(target, _carried(chain_tx))
    params: TxParams = {
        "from": account.address,
        "chainId": config.chain_id,
        "nonce": Nonce(chain_tx.nonce or 0),
        "gas": chain_tx.gas_limit or 0,
        **fees,
    }
    signed = account.sign_transaction(cast(dict[str, Any], call.build_transaction(params)))
    chain_tx.replaced_hashes = [*chain_tx.replaced_hashes, chain_tx.tx_hash]
    _store_signature(chain_tx, signed, fees)
    chain_tx.broadcast_at = None
    chain_tx.save()
    _sync_carried([chain_tx])
    logger.warning("bumped the fees of stuck chain tx %s", chain_tx.idempotency_key)


def _record_inclusion(
    w3: Web3, chain_tx: ChainTx, receipt: dict[str, Any], block: dict[str, Any], report: PassReport
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
        chain_tx.error = f"Reverted on chain: {_revert_reason(w3, chain_tx)}"
        report.failed += 1


def _revert_reason(w3: Web3, chain_tx: ChainTx) -> str:
    """Replay the call on the state it ran against to learn why it reverted."""
    target = contract(w3, chain_tx.contract)
    call = _call(target, _carried(chain_tx))
    try:
        call.call({"from": chain_tx.sender}, block_identifier=(chain_tx.block_number or 1) - 1)
    except (ContractLogicError, ContractCustomError) as exc:
        return describe_revert(chain_tx.contract, exc)
    return "unknown (the call succeeds when replayed)"
