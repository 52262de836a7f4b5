"""What the agent sees of a printer: one small interface, one module per kind of printer host.

A connector turns what the printer's own software says (OctoPrint's REST API and push events, an
OPC UA server's nodes, ...) into `Observation`s. It knows nothing of keys, signatures, sequence
numbers, queues or PrintFair's API: the agent numbers, signs, queues and delivers what a
connector observed (`printfair/agent/`), so a new kind of printer is one new module here.

Rules every connector keeps:

- `observe()` returns what happened since its previous call, oldest first, waiting at most
  `timeout` seconds for something to happen (an empty list when nothing did). It never blocks
  longer, so that the agent can shut down and deliver in between.
- Each print job it sees starts with exactly one `JobStarted` and ends with exactly one
  `JobEnded`; `Progress` samples come only between the two. A job already running when the
  connector starts is reported as started then (with what the host still says of it).
- `Meters` are the machine's own monotonic counters when the host keeps them (an OPC UA
  machine's operation counters); a host that keeps none (OctoPrint) reports none, and the agent
  counts from the jobs it saw.
- Times are the host's clock if it gives one, else the agent's, always timezone-aware UTC.
- A host that cannot be reached raises `HostUnavailable` with a message saying what was tried;
  the agent retries with backoff and says so. Anything else is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol


class HostUnavailable(Exception):
    """The printer's host could not be reached or answered with an error."""


@dataclass(frozen=True)
class JobStarted:
    at: datetime
    #: The print file's name as the host knows it.
    file_name: str
    #: SHA-256 (hex, lowercase) of the print file's bytes as the host holds them, or None when
    #: the host does not give the file out (the agent then uses a hash it knows from sending the
    #: file itself, or reports none).
    file_sha256: str | None
    file_size: int | None = None
    #: What the connector needs to find this job again after the agent restarts (JSON-able):
    #: the agent keeps it while the job is open and gives it back to a new connector, which
    #: ends the job from the host's own records if it ended while nobody was watching. The
    #: connector's bookkeeping, not what the host said: two starts compare without it.
    resume: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Progress:
    at: datetime
    #: 0..100, or None when the host does not know.
    completion: float | None = None
    #: Seconds printed so far in this job.
    elapsed_s: float | None = None
    #: Current layer (1-based) when the host reports layers.
    layer: int | None = None
    #: Temperatures in °C by sensor ("tool0", "bed", "chamber", ...): actual readings.
    temperatures: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class JobEnded:
    at: datetime
    outcome: Literal["finished", "failed", "cancelled"]
    #: Seconds from start to end as the host measured them (None if it does not say).
    duration_s: float | None
    #: Material used by this job in cm³ (filament volume, powder, resin), None if unknown.
    material_cm3: float | None = None
    #: Why a failed or cancelled job ended, as the host says it (empty when finished).
    reason: str = ""


@dataclass(frozen=True)
class Meters:
    """The machine's own lifetime counters (monotonic; None where it keeps none)."""

    at: datetime
    print_seconds: float | None = None
    material_cm3: float | None = None
    cycles: int | None = None


Observation = JobStarted | Progress | JobEnded | Meters


class Connector(Protocol):
    """A printer host as the agent sees it."""

    #: A short name for logs and the machine page ("octoprint", "opcua").
    kind: str

    def observe(self, timeout: float) -> list[Observation]:
        """What happened since the previous call, oldest first (see the module's rules)."""
        ...

    def close(self) -> None:
        """Let go of connections and threads; observe() is not called again."""
        ...
