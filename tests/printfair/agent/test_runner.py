"""The agent's loop with printer hosts that misbehave (printfair/agent/runner.py). A host is the one
thing stood in for here: a connector that fails as a broken host would."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from eth_account import Account

from ledger.anvil import free_port
from printfair.agent.connectors import HostUnavailable, Observation
from printfair.agent.recorder import Recorder
from printfair.agent.runner import Agent
from printfair.agent.store import AgentStore
from printfair.cli.api import ApiClient


class FailingHost:
    """Takes the connection, then fails every observe (a host whose API is broken)."""

    kind = "failing"

    def observe(self, timeout: float) -> list[Observation]:
        raise HostUnavailable("the host answered 500")

    def close(self) -> None:
        pass


def test_a_host_that_fails_after_connecting_is_asked_again_with_a_growing_pause(
    tmp_path: Path,
) -> None:
    # given
    store = AgentStore(tmp_path)
    said: list[str] = []
    connects: list[float] = []

    def connect(_open_job: object) -> FailingHost:
        connects.append(time.monotonic())
        return FailingHost()

    agent = Agent(
        connect=connect,
        recorder=Recorder(
            store, Account.create(), machine_id=1, chain_id=31337, counts_meters=False,
            warn=said.append,
        ),
        api=ApiClient(f"http://127.0.0.1:{free_port()}", None),  # PrintFair away too
        store=store,
        machine_id=1,
        say=said.append,
        poll=0.1,
    )  # fmt: skip
    # when: it runs for 4.5 s (here, in the thread that made the store, as the agent does)
    threading.Timer(4.5, agent.stop.set).start()
    agent.run()
    # then: connected at 0, 1 and 3 s (the next would be at 7), not once per poll
    assert len(connects) == 3, said
    pauses = [later - earlier for earlier, later in itertools.pairwise(connects)]
    assert 0.9 < pauses[0] < 1.9 and 1.9 < pauses[1] < 2.9, pauses
    assert "printer host lost: the host answered 500; connecting again in 2 s" in said
