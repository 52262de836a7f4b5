"""Step 1: sign pending rows under the wallet lock (see the package docstring)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from django.db import transaction
from django.utils import timezone
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import Nonce, RPCEndpoint, TxParams, Wei

from ledger.chain import (
    ChainConfig,
    operator_account,
)
from ledger.contracts import ContractNotDeployed, fee_fields
from ledger.models import ChainTx, Wallet
from ledger.services.outbox import chaintx_enqueue
from ledger.services.sender.common import (
    BATCH_FORMS,
    NATIVE,
    PassReport,
    batch_rows,
    batch_rows_sync,
    call_params,
    describe_revert,
    store_signature,
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
        after = chain_tx.waits_for
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
    """Sign the wallet's pending rows in order. Everything asked of the node (what is ready, the
    nonce, fees, each transaction's gas) is asked first, holding no lock; then one short
    transaction takes the wallet's lock, hands out nonces and stores the signatures. A node that
    hangs therefore never holds the database (on SQLite, its only write lock) hostage."""
    if not wallet_rows(config, account, ChainTx.Status.PENDING).exists():
        return
    pending = _ready(
        w3,
        list(
            wallet_rows(config, account, ChainTx.Status.PENDING)
            .select_related("waits_for")
            .order_by("id")[:SIGN_BATCH]
        ),
        report,
    )
    # Another client of the same key may have used nonces we did not hand out.
    chain_nonce = int(w3.eth.get_transaction_count(account.address, "pending"))
    fees = fee_fields(w3, config.fee_mode)
    plan = _plan(w3, config, account, pending, fees, report)
    with transaction.atomic():
        wallet, _ = Wallet.objects.get_or_create(chain_id=config.chain_id, address=account.address)
        # Take the lock with a write: a row lock on PostgreSQL, the write lock on SQLite.
        Wallet.objects.filter(pk=wallet.pk).update(locked_at=timezone.now())
        wallet.refresh_from_db()
        nonce = max(wallet.next_nonce or 0, chain_nonce)
        for rows, gas_limit in plan.signable:
            if not _still_pending(rows):
                break  # another pass got here first: the next pass plans again
            _store_signed(config, account, rows, nonce, gas_limit, fees)
            nonce += 1
            report.signed += len(rows)
        if plan.waiting is not None:
            _top_up(account, *plan.waiting)
            report.topped_up += 1
        wallet.next_nonce = nonce
        wallet.save(update_fields=["next_nonce"])


@dataclass
class _Plan:
    #: Transactions to sign, in nonce order: the rows each carries, and its gas limit.
    signable: list[tuple[list[ChainTx], int]] = field(default_factory=list)
    #: The rows that wait for gas (and what they need); those after them wait too.
    waiting: tuple[list[ChainTx], int] | None = None


def _plan(
    w3: Web3,
    config: ChainConfig,
    account: LocalAccount,
    pending: list[ChainTx],
    fees: TxParams,
    report: PassReport,
) -> _Plan:
    """Which transactions to sign and their gas, from the node; calls that would revert fail
    here, using no nonce."""
    plan = _Plan()
    gas = _GasBudget(w3, account)
    groups = _group(pending)
    while groups:
        group = groups.pop(0)
        try:
            outcome, gas_limit = _measure(w3, config, account, group)
        except ContractNotDeployed as exc:
            # Not yet (make run deploys while the sender starts): try again next pass. The
            # other contracts' calls need not wait.
            logger.warning("%s; %s stays pending", exc, group[0].idempotency_key)
            continue
        if outcome is Outcome.SPLIT:
            # One call of the batch would revert: send them one by one, so only it fails.
            groups[:0] = [[row] for row in group]
        elif outcome is Outcome.FAILED:
            report.failed += 1
        elif gas.spend(gas_limit * _max_fee(fees)):
            plan.signable.append((group, gas_limit))
        else:
            plan.waiting = (group, gas_limit * _max_fee(fees))
            break  # no gas until the top-up is mined: later calls keep their order
    return plan


class Outcome(Enum):
    SIGNED = "signed"  # measured: to be signed
    FAILED = "failed"  # the call would revert: the row failed
    SPLIT = "split"  # a batch would revert: not signed, to be sent call by call


def _measure(
    w3: Web3, config: ChainConfig, account: LocalAccount, rows: list[ChainTx]
) -> tuple[Outcome, int]:
    """The gas limit of one transaction for `rows` (the first carries the others)."""
    chain_tx = rows[0]
    call: TxParams = {"from": account.address, **call_params(rows, config.chain_id)}
    try:
        estimate = _gas_used(w3, call)
    except (ContractLogicError, ContractCustomError) as exc:
        if len(rows) > 1:
            return Outcome.SPLIT, 0
        error = f"Refused before sending: {describe_revert(chain_tx.contract, exc)}"
        failed = ChainTx.objects.filter(pk=chain_tx.pk, status=ChainTx.Status.PENDING).update(
            status=ChainTx.Status.FAILED, error=error, updated_at=timezone.now()
        )
        if failed:
            logger.warning("chain tx %s refused: %s", chain_tx.idempotency_key, error)
        return Outcome.FAILED, 0
    return Outcome.SIGNED, estimate * (100 + GAS_MARGIN_PERCENT) // 100


def _still_pending(rows: list[ChainTx]) -> bool:
    pks = [row.pk for row in rows]
    return ChainTx.objects.filter(pk__in=pks, status=ChainTx.Status.PENDING).count() == len(pks)


def _store_signed(
    config: ChainConfig,
    account: LocalAccount,
    rows: list[ChainTx],
    nonce: int,
    gas_limit: int,
    fees: TxParams,
) -> None:
    """Sign one transaction for `rows` (the first carries the others) and store it."""
    chain_tx = rows[0]
    call: TxParams = {"from": account.address, **call_params(rows, config.chain_id)}
    signed = _signed(config, account, call, nonce, gas_limit, fees)
    chain_tx.nonce = nonce
    chain_tx.gas_limit = gas_limit
    store_signature(chain_tx, signed, fees)
    chain_tx.save()
    ChainTx.objects.filter(pk__in=[row.pk for row in rows[1:]]).update(batch_head=chain_tx)
    batch_rows_sync([chain_tx])


def _max_fee(fees: TxParams) -> int:
    return int(cast(int, fees.get("maxFeePerGas", fees.get("gasPrice", 0))))


# A wallet the operator tops up gets gas for this many transactions like the one that waits.
GAS_TOPUP_TRANSACTIONS = 10


class _GasBudget:
    """The native coin a wallet other than the operator's can spend in this pass. The wallets
    the app keeps (custodial customer wallets) hold no gas of their own: when one lacks it, the
    operator sends it some through the outbox (_top_up), and the calls wait for that transfer."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3, self.account = w3, account
        self.operator = account.address == operator_account().address
        self.left: int | None = None

    def spend(self, cost: int) -> bool:
        if self.operator or cost == 0:
            return True
        if self.left is None:
            self.left = int(self.w3.eth.get_balance(self.account.address, "pending"))
        if cost <= self.left:
            self.left -= cost
            return True
        return False


def _top_up(account: LocalAccount, rows: list[ChainTx], cost: int) -> None:
    """Queue the operator's transfer of gas to `account`; `rows` wait for it to be mined."""
    topup = chaintx_enqueue(
        idempotency_key=f"gas.topup:{account.address}:{rows[0].pk}",
        contract=NATIVE,
        function="transfer",
        args=[account.address, cost * GAS_TOPUP_TRANSACTIONS],
    )
    ChainTx.objects.filter(pk__in=[row.pk for row in rows]).update(waits_for=topup)
    logger.info("%s lacks gas for %s: topped up", account.address, rows[0].idempotency_key)


def _gas_used(w3: Web3, call: TxParams) -> int:
    """The gas `call` uses now. eth_createAccessList reports it from one execution (geth, anvil,
    erigon, nethermind and besu have it), where eth_estimateGas's search runs the call a dozen
    times or more (anvil: 130 ms against 12 ms for a batch of 100 relayed bids). A call that
    would revert, or a node without the method, goes to eth_estimateGas, which raises the
    contract's error."""
    params: dict[str, Any] = {**call, "data": HexBytes(call["data"]).to_0x_hex()}
    if "value" in params:
        params["value"] = hex(params["value"])
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
        "value": call.get("value", Wei(0)),
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
    call = call_params(batch_rows(chain_tx), config.chain_id)
    signed = _signed(config, account, call, chain_tx.nonce or 0, chain_tx.gas_limit or 0, fees)
    chain_tx.replaced_hashes = [*chain_tx.replaced_hashes, chain_tx.tx_hash]
    store_signature(chain_tx, signed, fees)
    chain_tx.broadcast_at = None
    chain_tx.save()
    batch_rows_sync([chain_tx])
    logger.warning("bumped the fees of stuck chain tx %s", chain_tx.idempotency_key)
