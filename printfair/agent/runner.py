"""The agent's loop: watch the printer's host, sign and store what it did, deliver in order.

Delivery is at least once and in order: the oldest undelivered events go first, up to
`BATCH` a request; what PrintFair applied (or already had) is marked delivered. While PrintFair
cannot be reached, events wait on disk and the agent tries again with a growing pause; back, it
catches up in order. A refusal that sending again cannot cure (a revoked key, an event taken by
other content) stops the agent with PrintFair's reason: it would refuse everything after it too.
While the printer's host cannot be reached, the agent says so and connects again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from printfair.agent.connectors import Connector, HostUnavailable
from printfair.agent.recorder import Recorder
from printfair.agent.store import AgentStore
from printfair.cli.api import AnswerLost, ApiClient, ApiError
from printfair.cli.errors import CliError
from printfair.machine_events import MachineEventError

#: Events a delivery carries at most (the server's limit).
BATCH = 500
#: Seconds between tries while PrintFair or the host cannot be reached: doubling up to this.
MAX_PAUSE = 60.0


class AgentStopped(CliError):
    """PrintFair refused an event for good: the agent cannot go on without a person."""


def deliver(api: ApiClient, store: AgentStore, machine_id: int, say: Callable[[str], None]) -> int:
    """Send what waits, oldest first, until nothing does; return how many PrintFair applied.
    Raises CliError when PrintFair cannot be reached (try later) and AgentStopped when it
    refused an event for good. A print that PrintFair applied but could not put on its print
    ticket's timeline (another shop's ticket, a settled order) is told with its reason."""
    applied = 0
    while events := store.undelivered(BATCH):
        try:
            answer = api.post(
                f"machines/{machine_id}/events/", {"events": [e.body() for e in events]}
            )
        except AnswerLost:
            raise  # unknown whether it arrived: the next try sends it again, harmlessly
        except ApiError as exc:
            if exc.status in (408, 429) or exc.status >= 500:
                raise  # a moment's trouble: try again later
            raise AgentStopped(
                f"PrintFair refused machine {machine_id}'s events: {exc.message}",
                details=list(exc.details),
            ) from None
        store.mark_delivered(events[-1].sequence)
        applied += int(answer.get("stored", 0))
        for note in answer.get("notes") or []:
            say(f"event {note.get('sequence')}: not on the part's timeline: {note.get('message')}")
    return applied


class Agent:
    """One machine's agent (see the module). `connect` makes a connector to the host, again
    after the host was lost, given the job the agent has open (`Recorder.open_job`)."""

    def __init__(
        self,
        *,
        connect: Callable[[Mapping[str, Any] | None], Connector],
        recorder: Recorder,
        api: ApiClient,
        store: AgentStore,
        machine_id: int,
        say: Callable[[str], None],
        poll: float = 1.0,
    ) -> None:
        self.connect, self.recorder, self.api, self.store = connect, recorder, api, store
        self.machine_id, self.say, self.poll = machine_id, say, poll
        self.stop = threading.Event()

    def run(self) -> None:
        connector: Connector | None = None
        host_pause = server_pause = 1.0
        next_delivery = 0.0
        try:
            while not self.stop.is_set():
                if connector is None:
                    try:
                        connector = self.connect(self.recorder.open_job())
                        self.say("connected to the printer's host")
                    except HostUnavailable as exc:
                        self.say(f"printer host: {exc}; trying again in {host_pause:.0f} s")
                        self.stop.wait(host_pause)
                        host_pause = min(host_pause * 2, MAX_PAUSE)
                        continue
                try:
                    for observation in connector.observe(self.poll):
                        try:
                            self.recorder.record(observation)
                        except MachineEventError as exc:
                            self.say(f"not signed ({exc}): {observation}")
                    host_pause = 1.0  # the host answered
                except HostUnavailable as exc:
                    # A pause before connecting again, growing, as when connecting fails: a host
                    # that takes connections and then fails must not be asked in a tight loop.
                    self.say(f"printer host lost: {exc}; connecting again in {host_pause:.0f} s")
                    connector.close()
                    connector = None
                    self.stop.wait(host_pause)
                    host_pause = min(host_pause * 2, MAX_PAUSE)
                if time.monotonic() >= next_delivery:
                    try:
                        deliver(self.api, self.store, self.machine_id, self.say)
                        server_pause = 1.0
                    except AgentStopped:
                        raise
                    except CliError as exc:
                        self.say(f"{exc}; events wait on disk, next try in {server_pause:.0f} s")
                        next_delivery = time.monotonic() + server_pause
                        server_pause = min(server_pause * 2, MAX_PAUSE)
        finally:
            if connector is not None:
                connector.close()
