"""A real Celery worker for the `chain` queue that kills itself (SIGKILL, like a crash or an
OOM kill) at a chosen point of the sender, for tests/ledger/test_faults.py.

    python tests/ledger/fault_worker.py MODE   # MODE: none, after-sign, mid-broadcast,
                                               #       after-broadcast
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(mode: str) -> None:
    import django

    django.setup()
    from web3.providers import HTTPProvider

    from ledger.services import sender

    if mode == "after-sign":
        # Signed rows are committed; nothing has reached the node.
        sender.broadcast_signed = lambda *args, **kwargs: die()
    elif mode == "mid-broadcast":
        # The node has the transactions; the database does not know they were sent.
        original = HTTPProvider.make_batch_request

        def send_then_die(self: HTTPProvider, requests: Any) -> Any:
            answer = original(self, requests)
            if requests and requests[0][0] == "eth_sendRawTransaction":
                die()
            return answer

        HTTPProvider.make_batch_request = send_then_die  # type: ignore[method-assign, assignment]
    elif mode == "after-broadcast":
        # Sent and recorded as broadcast; no receipt has been read.
        sender.follow = lambda *args, **kwargs: die()
    elif mode != "none":
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    from celery.__main__ import main

    sys.argv = [
        "celery", "-A", "config", "worker", "--queues", "chain", "--pool", "solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING",
        "--hostname", f"fault-{sys.argv[1]}-{os.getpid()}@%h",
    ]  # fmt: skip
    main()
