from celery import shared_task
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout

from ledger.services.anchoring import anchor_batches_seal_due
from ledger.services.indexer import index_chain
from ledger.services.sender import chaintx_process


@shared_task(  # type: ignore[untyped-decorator]
    autoretry_for=(NodeUnreachable, Timeout),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=None,
)
def send_chain_transactions_task() -> dict[str, int]:
    """Runs on the `chain` queue, one worker process: one sender per wallet."""
    return vars(chaintx_process())


@shared_task  # type: ignore[untyped-decorator]
def seal_anchor_batches_task() -> int:
    return anchor_batches_seal_due()


@shared_task  # type: ignore[untyped-decorator]
def index_chain_task() -> dict[str, int | None]:
    """No retries of its own: beat runs the next pass within seconds, and passes resume from
    the cursor."""
    return vars(index_chain())
