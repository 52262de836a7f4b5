"""Where the chain side stands: the node's head and final block, the indexer's cursor, the
outbox's backlog by state, and the oldest transaction still on its way."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone
from requests.exceptions import RequestException

from ledger.chain import chain_config, final_block_number, operator_account, web3_client
from ledger.models import ChainTx, IndexerCursor, RecordLeaf

UNSETTLED = [
    ChainTx.Status.PENDING,
    ChainTx.Status.SIGNED,
    ChainTx.Status.BROADCAST,
    ChainTx.Status.INCLUDED,
]


class Command(BaseCommand):
    help = "Print the chain head, the final block, the indexer cursor and the outbox backlog."

    def handle(self, *args: Any, **options: Any) -> None:
        config = chain_config()
        out = self.stdout.write
        out(f"Chain {config.chain_id} at {config.rpc_url}")
        out(f"  operator       {operator_account().address}")
        try:
            w3 = web3_client(config)
            out(f"  head           {w3.eth.block_number}")
            out(f"  final          {final_block_number(w3, config)}")
        except RequestException as exc:
            out(self.style.ERROR(f"  node           unreachable: {exc}"))
        cursor = IndexerCursor.objects.filter(chain_id=config.chain_id).first()
        out(f"  indexed to     {cursor.block_number if cursor else 'nothing yet'}")
        rows = ChainTx.objects.filter(chain_id=config.chain_id)
        counts = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        out("Outbox")
        for status, label in ChainTx.Status.choices:
            out(f"  {label.lower():14} {counts.get(status, 0)}")
        oldest = rows.filter(status__in=UNSETTLED).aggregate(oldest=Min("created_at"))["oldest"]
        if oldest is not None:
            out(f"  oldest unsettled: {(timezone.now() - oldest).total_seconds():.0f} s ago")
        waiting = RecordLeaf.objects.filter(batch__isnull=True).count()
        out(f"Records waiting for a batch: {waiting}")
