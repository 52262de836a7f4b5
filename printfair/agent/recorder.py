"""What the agent makes of each observation: the machine event it signs and stores.

- `JobStarted` becomes `job_started`, with the ticket and `derived_from` the shop set for that
  print file (`printfair agent expect`), and opens the job: its end names the progress samples
  signed since (read back from the store, where every event stays).
- `Progress` becomes `progress`, a sample of the job under way.
- `JobEnded` becomes `job_ended` with the digest of the job's samples. For a host that keeps no
  meters of its own (OctoPrint), the agent then counts them from the jobs it saw and signs a
  `meters` event: print seconds, material and cycles, each only ever growing.
- `Meters` from a host that keeps them become `meters` as they are; a reading below the last is
  not signed (the server would refuse it and stop the agent), it is reported.

Values a connector passes that the event format does not take (a temperature sensor the machine
reports as 5000 °C, a completion of 100.4 %) are clamped or dropped here, never signed as is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from eth_account.signers.local import LocalAccount

from printfair.agent.connectors import JobEnded, JobStarted, Meters, Observation, Progress
from printfair.agent.store import AgentStore, StoredEvent
from printfair.canonical import JsonValue
from printfair.machine_events import (
    JOB_ENDED,
    JOB_STARTED,
    METERS,
    PROGRESS,
    MachineEvent,
    samples_digest,
)

_MAX_SENSORS = 16


class Recorder:
    """Signs and stores what one machine did (see the module)."""

    def __init__(
        self,
        store: AgentStore,
        account: LocalAccount,
        *,
        machine_id: int,
        chain_id: int,
        counts_meters: bool,
        warn: Callable[[str], None],
    ) -> None:
        self.store, self.account = store, account
        self.machine_id, self.chain_id = machine_id, chain_id
        self.counts_meters = counts_meters
        self.warn = warn

    def record(self, observation: Observation) -> list[StoredEvent]:
        if isinstance(observation, JobStarted):
            return self._job_started(observation)
        if isinstance(observation, Progress):
            return self._progress(observation)
        if isinstance(observation, JobEnded):
            return self._job_ended(observation)
        return self._meters(observation)

    def open_job(self) -> Mapping[str, Any] | None:
        """What the connector asked to keep of the job still open (JobStarted.resume), for the
        next connector after a restart: a job that ended meanwhile is ended from the host's
        records, not lost."""
        job = self.store.get("job")
        return job.get("resume") if isinstance(job, dict) else None

    def _job_started(self, seen: JobStarted) -> list[StoredEvent]:
        job = self.store.get("job")
        file = [seen.file_name, seen.file_sha256]
        if job is not None and job.get("file") == file:
            # The same job, reported again by a connector that (re)connected while it ran: the
            # agent was restarted or the host came back. It goes on with the job it has.
            return []
        if job is not None:
            self.warn("a job started while the last one had not ended; counting from the new one")
        ticket, derived_from = self.store.expected(seen.file_sha256)
        data: dict[str, JsonValue] = {
            "file_name": seen.file_name[:255],
            "file_sha256": seen.file_sha256,
            "file_size": seen.file_size,
            "ticket": ticket,
            "derived_from": dict(derived_from) if derived_from else None,
        }
        job = {"file": file, "resume": dict(seen.resume) if seen.resume else None}
        return [self._sign(seen.at, JOB_STARTED, data, job=job)]

    def _progress(self, seen: Progress) -> list[StoredEvent]:
        job = self.store.get("job")
        if job is None:
            return []  # a sample outside a job: nothing it could belong to
        temperatures = {
            sensor[:40]: round(float(value), 3)
            for sensor, value in sorted(seen.temperatures.items())[:_MAX_SENSORS]
            if -100 <= value <= 3000
        }
        data: dict[str, JsonValue] = {
            "completion": None if seen.completion is None else min(max(seen.completion, 0), 100),
            "elapsed_s": None if seen.elapsed_s is None else max(seen.elapsed_s, 0),
            "layer": seen.layer if seen.layer is not None and seen.layer >= 1 else None,
            "temperatures": temperatures,
        }
        # The samples stay where every event is, in the store: the job's end reads them back.
        return [self._sign(seen.at, PROGRESS, data)]

    def _job_ended(self, seen: JobEnded) -> list[StoredEvent]:
        job = self.store.get("job")
        if job is None:
            self.warn("a job ended that the agent did not see start; not reported")
            return []
        duration = None if seen.duration_s is None else max(seen.duration_s, 0)
        data: dict[str, JsonValue] = {
            "outcome": seen.outcome,
            "duration_s": duration,
            "material_cm3": None if seen.material_cm3 is None else max(seen.material_cm3, 0),
            "reason": seen.reason[:500],
            "samples": samples_digest(self.store.samples_of_job()),
        }
        events = [self._sign(seen.at, JOB_ENDED, data, job=None)]
        if self.counts_meters:
            meters = dict(self.store.get("meters") or {})
            meters["cycles"] = int(meters.get("cycles", 0)) + 1
            meters["print_seconds"] = round(
                float(meters.get("print_seconds", 0)) + (duration or 0), 3
            )
            meters["material_cm3"] = round(
                float(meters.get("material_cm3", 0)) + float(seen.material_cm3 or 0), 6
            )
            events.append(self._sign(seen.at, METERS, meters, meters=meters))
        return events

    def _meters(self, seen: Meters) -> list[StoredEvent]:
        last = dict(self.store.get("meters") or {})
        reading: dict[str, Any] = {
            "print_seconds": seen.print_seconds,
            "material_cm3": seen.material_cm3,
            "cycles": seen.cycles,
        }
        meters = {name: value for name, value in reading.items() if value is not None}
        backwards = [n for n, v in meters.items() if n in last and v < last[n]]
        if backwards:
            self.warn(f"the machine's meter {backwards[0]} went backwards; reading not signed")
            return []
        if not meters or meters == {n: last.get(n) for n in meters}:
            return []  # nothing new
        return [self._sign(seen.at, METERS, meters, meters={**last, **meters})]

    def _sign(
        self, at: datetime, kind: str, data: dict[str, JsonValue], **settings: Any
    ) -> StoredEvent:
        occurred_at_ms = int(at.timestamp() * 1000) or int(time.time() * 1000)

        def sign(sequence: int) -> tuple[int, str, dict[str, JsonValue], str]:
            event = MachineEvent(
                machine_id=self.machine_id,
                sequence=sequence,
                occurred_at_ms=occurred_at_ms,
                kind=kind,
                data=data,
            )
            signature = event.sign(self.account, chain_id=self.chain_id)
            return occurred_at_ms, kind, data, "0x" + signature.hex()

        return self.store.append(sign, **settings)
