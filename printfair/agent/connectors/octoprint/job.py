"""The job an OctoPrint connector follows, and what it keeps of it across an agent's restart
(`JobStarted.resume`): written by `resume`, read back by `resumed`, here only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@dataclass
class Job:
    """The job the connector reported started and not yet ended."""

    origin: str
    path: str
    started_at: datetime
    #: Filament OctoPrint's analysis found in the whole file, in cm³ (None if unknown).
    volume_cm3: float | None
    #: Opened from what OctoPrint said when the connector connected, not from its
    #: `PrintStarted`: that event may still be on its way (see `_on_started`).
    from_snapshot: bool
    #: The latest completion (0..100) OctoPrint reported for this job.
    completion: float | None = None

    def resume(self) -> dict[str, Any]:
        """What a later connector needs to find this job again (JSON-able)."""
        return {
            "origin": self.origin,
            "path": self.path,
            "started_at": self.started_at.timestamp(),
            "volume_cm3": self.volume_cm3,
        }

    @classmethod
    def resumed(cls, kept: Mapping[str, Any] | None) -> Job | None:
        """The job an earlier connector opened, from its `resume`."""
        if not kept:
            return None
        try:
            volume = kept.get("volume_cm3")
            return cls(
                origin=str(kept["origin"]),
                path=str(kept["path"]),
                started_at=utc(float(kept["started_at"])),
                volume_cm3=float(volume) if isinstance(volume, int | float) else None,
                from_snapshot=True,
            )
        except (KeyError, TypeError, ValueError):
            return None  # kept by another version: the job is taken as OctoPrint shows it now
