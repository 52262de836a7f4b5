"""Faults with real processes (issue: "Faults, with real processes"): a Celery worker killed
with SIGKILL at the worst moments, two workers at once, and the node going away and coming back.
Workers reach the same broker as CI's (Redis) or a file-system broker, and the test database."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from requests.exceptions import ConnectionError as NodeUnreachable

from ledger.anvil import Anvil
from ledger.chain import operator_account, web3_client
from ledger.contracts import contract
from ledger.models import ChainTx
from ledger.services.outbox import chaintx_enqueue
from ledger.services.sender import chaintx_process
from tests.processes import process_env
from tests.scenarios import drain

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0


@pytest.fixture
def worker_env(chain: Anvil, tmp_path: Path) -> dict[str, str]:
    return process_env(chain.url, tmp_path / "broker")


@pytest.fixture
def workers(worker_env: dict[str, str]) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(mode: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(ROOT / "tests" / "ledger" / "fault_worker.py"), mode],
            cwd=ROOT,
            env=worker_env,
        )
        started.append(process)
        return process

    yield start
    # All told at once, then waited for, so that their warm shutdowns overlap.
    running = [process for process in started if process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        process.wait(timeout=30)


def kick(worker_env: dict[str, str]) -> None:
    """Queue one sender pass, as beat does every two seconds: published from this process to the
    workers' broker, as beat publishes from its own (a `celery call` process per kick cost a
    second of CPU each)."""
    url = worker_env["CELERY_BROKER_URL"]
    options = {}
    if url.startswith("filesystem"):
        # The folders of config/settings/base.py's broker_transport_options (made, as
        # config/celery_app.py makes them, in case no worker has started yet).
        folder = Path(worker_env["CELERY_BROKER_DIR"])
        for name in ("queue", "control"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        }
    with Celery(broker=url, broker_transport_options=options, set_as_current=False) as publisher:
        publisher.send_task("ledger.tasks.send_chain_transactions_task", queue="chain")


def wait_for(condition: Callable[[], bool], *, kick_env: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        if kick_env is not None:
            kick(kick_env)
        time.sleep(0.5)


def enqueue(count: int, first: int = 1) -> list[ChainTx]:
    rows = []
    for n in range(first, first + count):
        with transaction.atomic():
            rows.append(
                chaintx_enqueue(
                    idempotency_key=f"fault:{n}",
                    contract="DesignRegistry",
                    function="register",
                    args=["0x" + bytes([n]).hex() * 32, "0x" + "ab" * 32],
                )
            )
    return rows


def chain_nonce() -> int:
    return int(web3_client().eth.get_transaction_count(operator_account().address, "latest"))


def assert_each_sent_once(rows: list[ChainTx], start_nonce: int) -> None:
    """No lost and no duplicate transaction: every row final, sent by exactly one of the
    wallet's transactions (calls with a batch form share one), and no other transaction sent."""
    rows = [ChainTx.objects.get(pk=row.pk) for row in rows]
    assert {row.status for row in rows} == {ChainTx.Status.FINAL}
    heads = {row.batch_head_id or row.pk for row in rows}
    nonces = sorted(
        n
        for n in ChainTx.objects.filter(pk__in=heads).values_list("nonce", flat=True)
        if n is not None
    )
    assert nonces == list(range(start_nonce, start_nonce + len(heads)))
    assert chain_nonce() == start_nonce + len(heads), "no transaction sent twice"
    registry = contract(web3_client(), "DesignRegistry")
    for row in rows:
        _, timestamp = registry.functions.registration(row.args[0]).call()
        assert timestamp > 0


@pytest.mark.parametrize("mode", ["after-sign", "mid-broadcast", "after-broadcast"])
def test_a_worker_killed_mid_pass_loses_and_duplicates_nothing(
    deployed: Anvil, workers: Any, worker_env: dict[str, str], mode: str
) -> None:
    # given
    start_nonce = chain_nonce()
    rows = enqueue(5)
    # when: the worker dies at the chosen point of its pass
    doomed = workers(mode)
    kick(worker_env)
    assert doomed.wait(timeout=TIMEOUT) == -9
    statuses = set(ChainTx.objects.values_list("status", flat=True))
    expected = {"after-sign": "signed", "mid-broadcast": "signed", "after-broadcast": "broadcast"}
    assert statuses == {expected[mode]}
    sent = ChainTx.objects.filter(batch_head=None).count()  # the five calls share transactions
    assert chain_nonce() == (start_nonce if mode == "after-sign" else start_nonce + sent)
    # then: a healthy worker finishes the job
    workers("none")
    wait_for(
        lambda: not ChainTx.objects.exclude(status=ChainTx.Status.FINAL).exists(),
        kick_env=worker_env,
    )
    assert_each_sent_once(rows, start_nonce)


def test_two_workers_at_once_never_share_a_nonce(
    deployed: Anvil, workers: Any, worker_env: dict[str, str]
) -> None:
    start_nonce = chain_nonce()
    workers("none")
    workers("none")
    rows = enqueue(30)
    for _ in range(6):
        kick(worker_env)
    wait_for(
        lambda: not ChainTx.objects.exclude(status=ChainTx.Status.FINAL).exists(),
        kick_env=worker_env,
    )
    assert_each_sent_once(rows, start_nonce)


def test_the_backlog_drains_after_the_node_restarts_with_its_state(tmp_path: Path) -> None:
    node = Anvil(
        mnemonic=settings.CHAIN_DEV_MNEMONIC,
        chain_id=settings.CHAIN_ID,
        state=tmp_path / "state.json",
    ).start()
    try:
        with override_settings(CHAIN_RPC_URL=node.url):
            call_command("deploy_contracts", verbosity=0)
            start_nonce = chain_nonce()
            first = enqueue(3)
            chaintx_process()
            node.stop()  # saves its state
            later = enqueue(3, first=10)
            with pytest.raises(NodeUnreachable):
                chaintx_process()
            assert ChainTx.objects.filter(status=ChainTx.Status.PENDING).count() == 3
            node.start()
            drain()
            assert_each_sent_once(first + later, start_nonce)
    finally:
        node.stop()
