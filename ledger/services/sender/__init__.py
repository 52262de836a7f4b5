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

from web3 import Web3

from ledger.chain import chain_config, operator_account, web3_client
from ledger.models import ChainTx
from ledger.services.sender.broadcasting import broadcast_signed
from ledger.services.sender.common import PassReport
from ledger.services.sender.following import follow
from ledger.services.sender.signing import sign_pending
from ledger.signers import account_for

__all__ = ["PassReport", "chaintx_process"]

logger = logging.getLogger(__name__)

UNSETTLED = (
    ChainTx.Status.PENDING,
    ChainTx.Status.SIGNED,
    ChainTx.Status.BROADCAST,
    ChainTx.Status.INCLUDED,
)


def chaintx_process(*, w3: Web3 | None = None) -> PassReport:
    """One pass of the sender for every wallet with work: the operator's first, then each other
    wallet whose key is kept here (ledger/signers.py). The three steps are looked up in this
    module, so the fault tests can replace one in a real worker (tests/ledger/fault_worker.py)."""
    w3 = w3 or web3_client()
    config = chain_config()
    operator = operator_account()
    busy = (
        ChainTx.objects.filter(chain_id=config.chain_id, status__in=UNSETTLED, batch_head=None)
        .exclude(sender=operator.address)
        .values_list("sender", flat=True)
        .distinct()
    )
    accounts = [operator]
    for address in sorted(busy):
        account = account_for(address)
        if account is None:
            logger.error("no key for %s here: its transactions stay unsent", address)
        else:
            accounts.append(account)
    report = PassReport()
    for account in accounts:
        sign_pending(w3, config, account, report)
        broadcast_signed(w3, config, account, report)
        follow(w3, config, account, report)
    return report
