"""The agent's disk: the machine it speaks for, the events it signed and which PrintFair has, the
job under way and the meters it counts, in one SQLite file (stdlib `sqlite3`).

An event is numbered, signed and written in one transaction before anything tries to send it,
so a crash loses nothing that was observed after it was written, and restarting delivers the
rest in order (at least once; the server applies each once). The file is the agent's memory:
with it gone, the machine's next number is unknown, and the agent says so instead of guessing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from printfair.canonical import JsonValue

STORE_FILE: Final = "agent.sqlite3"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    sequence INTEGER PRIMARY KEY,
    occurred_at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    signature TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS expected_files (
    file_sha256 TEXT PRIMARY KEY,
    ticket TEXT,
    derived_from TEXT
);
"""


@dataclass(frozen=True)
class StoredEvent:
    sequence: int
    occurred_at_ms: int
    kind: str
    data: dict[str, Any]
    signature: str

    def body(self) -> dict[str, Any]:
        """As the events endpoint takes it."""
        return {
            "sequence": self.sequence,
            "occurred_at_ms": self.occurred_at_ms,
            "kind": self.kind,
            "data": self.data,
            "signature": self.signature,
        }


class AgentStore:
    """One agent's SQLite file (see the module)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / STORE_FILE
        # Autocommit mode: every write below is one explicit BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a crash of this process.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- settings: the machine, the job under way, the agent's own meters ----------------------

    def get(self, name: str) -> Any:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, **values: Any) -> None:
        with self._write() as db:
            for name, value in values.items():
                db.execute(
                    "INSERT INTO settings (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, json.dumps(value)),
                )

    # --- events ------------------------------------------------------------------------------

    def append(
        self,
        sign: Callable[[int], tuple[int, str, Mapping[str, JsonValue], str]],
        **settings: Any,
    ) -> StoredEvent:
        """Number the next event, sign it and write it, with `settings` changed in the same
        transaction (the job's samples, the meters). `sign(sequence)` returns
        (occurred_at_ms, kind, data, signature)."""
        with self._write() as db:
            row = db.execute("SELECT MAX(sequence) FROM events").fetchone()
            last = row[0] if row[0] is not None else int(self.get("sequence_before") or 0)
            sequence = last + 1
            occurred_at_ms, kind, data, signature = sign(sequence)
            db.execute(
                "INSERT INTO events (sequence, occurred_at_ms, kind, data, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (sequence, occurred_at_ms, kind, json.dumps(data), signature),
            )
            for name, value in settings.items():
                db.execute(
                    "INSERT INTO settings (name, value) VALUES (?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (name, json.dumps(value)),
                )
        return StoredEvent(sequence, occurred_at_ms, kind, dict(data), signature)

    def samples_of_job(self) -> list[dict[str, JsonValue]]:
        """The data of the progress samples signed since the latest job start, in order."""
        rows = self._db.execute(
            "SELECT data FROM events WHERE kind = 'progress' AND sequence > "
            "(SELECT COALESCE(MAX(sequence), 0) FROM events WHERE kind = 'job_started') "
            "ORDER BY sequence"
        ).fetchall()
        return [json.loads(data) for (data,) in rows]

    def undelivered(self, limit: int) -> list[StoredEvent]:
        rows = self._db.execute(
            "SELECT sequence, occurred_at_ms, kind, data, signature FROM events "
            "WHERE delivered = 0 ORDER BY sequence LIMIT ?",
            (limit,),
        ).fetchall()
        return [StoredEvent(s, t, k, json.loads(d), sig) for s, t, k, d, sig in rows]

    def mark_delivered(self, up_to: int) -> None:
        with self._write() as db:
            db.execute("UPDATE events SET delivered = 1 WHERE sequence <= ?", (up_to,))

    def counts(self) -> tuple[int, int, int]:
        """(events, delivered, last sequence)."""
        total, delivered, last = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(delivered), 0), COALESCE(MAX(sequence), 0) FROM events"
        ).fetchone()
        return int(total), int(delivered), int(last or self.get("sequence_before") or 0)

    # --- what the shop told the agent to expect ---------------------------------------------

    def expect(
        self, file_sha256: str, *, ticket: str | None, derived_from: Mapping[str, str] | None
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO expected_files (file_sha256, ticket, derived_from) VALUES (?, ?, ?) "
                "ON CONFLICT (file_sha256) DO UPDATE SET ticket = excluded.ticket, "
                "derived_from = excluded.derived_from",
                (file_sha256, ticket, json.dumps(derived_from)),
            )

    def expected(self, file_sha256: str | None) -> tuple[str | None, dict[str, str] | None]:
        """The ticket and the `derived_from` the shop set for a print file (none if unknown)."""
        if file_sha256 is None:
            return None, None
        row = self._db.execute(
            "SELECT ticket, derived_from FROM expected_files WHERE file_sha256 = ?",
            (file_sha256,),
        ).fetchone()
        if row is None:
            return None, None
        return row[0], json.loads(row[1])
