"""What the shop knows of its own bids and nobody else does: prices, lead times and salts.

A sealed bid can only be revealed with its salt, so each version is written here *before* it is
sent, and then marked ``accepted`` or ``refused``; one that stays ``sending`` (the CLI stopped, or
the answer was lost) may or may not have reached PrintFair, and is kept like an accepted one.
At reveal time the version to open is the one whose commitment PrintFair holds.

Bids are keyed by auction, that is by chain id, AuctionHouse address and job id, so one home may
serve several PrintFair servers (staging, production) without mixing them up. Each change is a
read-modify-write under an exclusive lock (a cron reveal and a bid by hand may overlap), written
to a temporary file, flushed and renamed over the old one: a crash leaves the old file or the
new, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from printfair import safejson
from printfair.cli.errors import CliError

__all__ = ["BIDS_FILE", "LocalBid", "LocalBids", "SealedVersion", "utc_now"]

BIDS_FILE: Final = "bids.json"
FORMAT_VERSION: Final = 1

VersionState = Literal["sending", "accepted", "refused"]


def utc_now() -> datetime:
    """The local clock (the reveal window is checked against it before asking the server)."""
    return datetime.now(UTC)


@dataclass
class SealedVersion:
    """One signed version of a bid: the commitment's preimage and what became of it."""

    version: int
    price: int  # settlement-token base units
    lead_time_days: int
    salt: str  # 0x-hex, 32 bytes
    commitment: str  # 0x-hex
    state: VersionState = "sending"
    error: str | None = None
    created_at: str = field(default_factory=lambda: utc_now().isoformat())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SealedVersion:
        return cls(**{**data, "price": int(data["price"])})

    def to_dict(self) -> dict[str, Any]:
        # Prices may exceed what JSON readers in other languages hold exactly.
        return {**asdict(self), "price": str(self.price)}


@dataclass
class LocalBid:
    """A shop's bid on one auction, with every version it signed."""

    chain_id: int
    auction_house: str
    job_id: int
    shop: str
    api: str
    title: str
    commit_deadline: str
    reveal_deadline: str
    decimals: int
    versions: list[SealedVersion] = field(default_factory=list)
    revealed_version: int | None = None
    revealed_at: str | None = None

    @property
    def key(self) -> str:
        return auction_key(self.chain_id, self.auction_house, self.job_id)

    @property
    def latest_version(self) -> int:
        return max((v.version for v in self.versions), default=0)

    def version_with(self, commitment: str) -> SealedVersion | None:
        """The version that made ``commitment`` (None if it was not made here)."""
        for sealed in self.versions:
            if sealed.commitment.lower() == commitment.lower():
                return sealed
        return None

    def live_versions(self) -> list[SealedVersion]:
        """Versions PrintFair may hold: all but the refused ones."""
        return [v for v in self.versions if v.state != "refused"]

    def in_reveal_window(self, now: datetime) -> bool:
        commit = datetime.fromisoformat(self.commit_deadline)
        reveal = datetime.fromisoformat(self.reveal_deadline)
        return commit <= now < reveal

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalBid:
        versions = [SealedVersion.from_dict(v) for v in data["versions"]]
        return cls(**{**data, "versions": versions})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "versions": [v.to_dict() for v in self.versions]}


def auction_key(chain_id: int, auction_house: str, job_id: int) -> str:
    return f"{chain_id}:{auction_house.lower()}:{job_id}"


class LocalBids:
    """The bids file in the CLI's home."""

    def __init__(self, home: Path) -> None:
        self.path = home / BIDS_FILE
        self._lock_path = home / ".bids.lock"

    def get(self, chain_id: int, auction_house: str, job_id: int) -> LocalBid | None:
        return self._read().get(auction_key(chain_id, auction_house, job_id))

    def for_auction_house(self, chain_id: int, auction_house: str) -> list[LocalBid]:
        prefix = auction_key(chain_id, auction_house, 0).rsplit(":", 1)[0] + ":"
        return [bid for key, bid in sorted(self._read().items()) if key.startswith(prefix)]

    def add_version(self, bid: LocalBid, sealed: SealedVersion) -> None:
        """Record a signed version before it is sent (the bid's job details are refreshed)."""
        with self._changing() as bids:
            stored = bids.get(bid.key)
            if stored is not None:
                bid.versions = stored.versions
                bid.revealed_version, bid.revealed_at = stored.revealed_version, stored.revealed_at
            if any(v.version == sealed.version for v in bid.versions):
                raise CliError(f"version {sealed.version} of this bid is already in {self.path}")
            bid.versions.append(sealed)
            bids[bid.key] = bid

    def mark(
        self, key: str, version: int, state: VersionState, *, error: str | None = None
    ) -> None:
        with self._changing() as bids:
            for sealed in bids[key].versions:
                if sealed.version == version:
                    sealed.state, sealed.error = state, error

    def mark_revealed(self, key: str, version: int) -> None:
        with self._changing() as bids:
            bids[key].revealed_version = version
            bids[key].revealed_at = utc_now().isoformat()
            for sealed in bids[key].versions:
                if sealed.version == version:
                    sealed.state = "accepted"

    def _read(self) -> dict[str, LocalBid]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise CliError(f"cannot read {self.path}: {exc}") from None
        try:
            data = safejson.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return {key: LocalBid.from_dict(value) for key, value in data["bids"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            # Never overwrite it: the salts in it may be the only copies.
            raise CliError(f"{self.path} is damaged ({exc}); fix or move it away") from None

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, LocalBid]]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as lock, _exclusive(lock.fileno()):
            bids = self._read()
            yield bids
            self._write(bids)

    def _write(self, bids: dict[str, LocalBid]) -> None:
        data = {
            "version": FORMAT_VERSION,
            "bids": {key: bid.to_dict() for key, bid in sorted(bids.items())},
        }
        fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".bids.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:  # 0600, as mkstemp makes it
                json.dump(data, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        if os.name == "posix":
            # The rename itself must reach the disk before the bid is sent.
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


@contextlib.contextmanager
def _exclusive(fd: int) -> Iterator[None]:
    """Hold an exclusive lock on an open file (shops run the CLI on Windows too)."""
    if sys.platform == "win32":
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # retries for 10 s, then raises
                break
            except OSError:
                continue
        try:
            yield
        finally:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
