"""Printer agents for the benchmarks: a machine's prints signed as printfair/agent/recorder.py
signs them (progress samples, the job's start and its end with the samples' digest, the meters
counted from it) and delivered as printfair/agent/runner.py delivers them: BATCH events a request,
in order, the next delivery once the last is answered."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
import time
from collections import Counter
from typing import Any

from bench.bids import Load, fire
from bench.common import BENCH_CHAIN_ID
from bench.records import Posting
from printfair.agent.runner import BATCH
from printfair.agent.store import StoredEvent
from printfair.machine_events import (
    JOB_ENDED,
    JOB_STARTED,
    METERS,
    PROGRESS,
    MachineEvent,
    samples_digest,
)


@dataclasses.dataclass
class Agent:
    """One machine's agent: its key, numbering and clock, and the shop's API key it sends with.
    It signs what printfair/agent/recorder.py would from a printer's observations."""

    machine_id: int
    account: Any
    token: str
    random: random.Random
    sequence: int = 0
    # A day back, a second an event: every event is in the past, as the server requires.
    clock_ms: int = dataclasses.field(default_factory=lambda: int(time.time() * 1000) - 86_400_000)
    meters: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"cycles": 0, "print_seconds": 0.0, "material_cm3": 0.0}
    )
    prints: int = 0

    def sign(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """The next event, signed, as the events endpoint takes it."""
        self.sequence += 1
        self.clock_ms += 1000
        event = MachineEvent(
            machine_id=self.machine_id, sequence=self.sequence, occurred_at_ms=self.clock_ms,
            kind=kind, data=data,
        )  # fmt: skip
        signature = "0x" + event.sign(self.account, chain_id=BENCH_CHAIN_ID).hex()
        return StoredEvent(self.sequence, self.clock_ms, kind, data, signature).body()

    def sample(self, n: int, samples: int) -> dict[str, Any]:
        wobble = self.random.uniform(-0.5, 0.5)
        return {
            "completion": round(100 * n / samples, 3),
            "elapsed_s": 5.0 * n,
            "layer": n // 4 + 1,
            "temperatures": {"bed": round(60 + wobble, 3), "tool0": round(215 - wobble, 3)},
        }

    def job(self, samples: int) -> list[dict[str, Any]]:
        """A print: its start, `samples` progress samples, its end naming their digest, and the
        meters an agent that counts them itself (OctoPrint's) signs after it."""
        self.prints += 1
        name = f"bracket-{self.machine_id}-{self.prints}.gcode"
        events = [
            self.sign(
                JOB_STARTED,
                {
                    "file_name": name, "file_sha256": hashlib.sha256(name.encode()).hexdigest(),
                    "file_size": 2_400_000, "ticket": None, "derived_from": None,
                },
            )
        ]  # fmt: skip
        taken = [self.sample(n, samples) for n in range(1, samples + 1)]
        events += [self.sign(PROGRESS, sample) for sample in taken]
        duration, material = 5.0 * samples, 12.5
        events.append(
            self.sign(
                JOB_ENDED,
                {
                    "outcome": "finished", "duration_s": duration, "material_cm3": material,
                    "reason": "", "samples": samples_digest(taken),
                },
            )
        )  # fmt: skip
        self.meters["cycles"] += 1
        self.meters["print_seconds"] = round(self.meters["print_seconds"] + duration, 3)
        self.meters["material_cm3"] = round(self.meters["material_cm3"] + material, 6)
        events.append(self.sign(METERS, dict(self.meters)))
        return events

    def deliveries(self, events: list[dict[str, Any]]) -> list[Posting]:
        """`events` as the agent delivers them: oldest first, BATCH a request."""
        return [
            Posting(
                path=f"/api/v1/machines/{self.machine_id}/events/",
                token=self.token,
                body=json.dumps({"events": events[start : start + BATCH]}).encode(),
            )
            for start in range(0, len(events), BATCH)
        ]


def deliver(port: int, queues: list[list[Posting]]) -> Load:
    """Each agent's deliveries in order in a thread of its own (bench/bids.py's fire with one
    client), the agents side by side; the seconds from the first request to the last answer."""
    loads: list[Load] = []
    threads = [
        threading.Thread(target=lambda q=queue: loads.append(fire(port, q, 1, 200)))
        for queue in ([posting.real() for posting in queue] for queue in queues)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sum((load.statuses for load in loads), Counter[int]())
    unexpected = next((load.unexpected for load in loads if load.unexpected), b"")
    return Load(time.perf_counter() - started, statuses, unexpected)
