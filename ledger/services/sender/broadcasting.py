"""Step 2: send signed transactions in JSON-RPC batches (see the package docstring)."""

from __future__ import annotations

import logging
from typing import cast

from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint

from ledger.chain import (
    ChainConfig,
)
from ledger.models import ChainTx
from ledger.services.sender.common import PassReport, wallet_rows
from ledger.services.sender.signing import bump

logger = logging.getLogger(__name__)


BROADCAST_BATCH = 500


FEE_TOO_LOW = ("underpriced", "fee too low", "less than block base fee")


SENT_ALREADY = (
    "already known",
    "known transaction",
    "already imported",
    "nonce too low",
    "nonce is too low",
)


def broadcast_signed(
    w3: Web3, config: ChainConfig, account: LocalAccount, report: PassReport
) -> None:
    """Send every signed transaction, lowest nonce first, in JSON-RPC batches: one round trip
    for many transactions instead of one each."""
    rows = list(wallet_rows(config, account, ChainTx.Status.SIGNED).order_by("nonce"))
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
                bump(w3, config, account, row)
                report.bumped += 1
                continue
            ChainTx.objects.filter(pk=row.pk).update(
                error=message, attempts=F("attempts") + 1, updated_at=timezone.now()
            )
            logger.warning("broadcast of %s failed: %s", row.idempotency_key, message)
        now = timezone.now()
        ChainTx.objects.filter(batch_head__in=sent, status=ChainTx.Status.SIGNED).update(
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
