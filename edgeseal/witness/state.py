"""The witness's memory: the last checkpoint it cosigned for each log, in SQLite.

tlog-witness ("add-checkpoint") requires the check against the stored size and the
update to be one atomic step, persisted before the answer; otherwise two concurrent
requests could roll a log back. Every check-and-update runs inside one
``BEGIN IMMEDIATE`` transaction (serialised in-process by a lock too, since the HTTP
server is threaded), with ``synchronous=FULL`` so a cosigned checkpoint survives a
power cut, not only a killed process.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeseal.plumbing.sqlite_tx import write_transaction

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    origin_hash TEXT NOT NULL UNIQUE,  -- hex SHA-256 of the origin, the monitoring path
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note BLOB NOT NULL,                -- the checkpoint with the log's and our signatures
    cosigned_at INTEGER NOT NULL
)
"""


class StateError(RuntimeError):
    """The state file cannot be opened or is not a witness state."""


@dataclass(frozen=True)
class Cosigned:
    origin: str
    size: int
    root: bytes
    note: bytes
    cosigned_at: int


def origin_hash(origin: str) -> str:
    """tlog-witness "Monitor Retrieval Mechanism": lowercase hex SHA-256 of the origin."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


class WitnessState:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StateError(
                    f"witness state {path} has schema version {version}; "
                    f"this edgeseal knows version {SCHEMA_VERSION}"
                )
            with write_transaction(self._conn):
                self._conn.execute(_SCHEMA)
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StateError(f"cannot open witness state {path}: {exc}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[WitnessState]:
        """One atomic check-and-update: committed if the block returns, else rolled back."""
        with self._lock, write_transaction(self._conn):
            yield self

    def get(self, origin: str) -> Cosigned | None:
        row = self._conn.execute(
            "SELECT origin, size, root, note, cosigned_at FROM cosigned WHERE origin = ?",
            (origin,),
        ).fetchone()
        return (
            None if row is None else Cosigned(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4])
        )

    def by_origin_hash(self, hex_hash: str) -> Cosigned | None:
        row = self._conn.execute(
            "SELECT origin FROM cosigned WHERE origin_hash = ?", (hex_hash,)
        ).fetchone()
        return None if row is None else self.get(row[0])

    def put(self, record: Cosigned) -> None:
        self._conn.execute(
            "INSERT INTO cosigned (origin, origin_hash, size, root, note, cosigned_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
            "size = excluded.size, root = excluded.root, note = excluded.note, "
            "cosigned_at = excluded.cosigned_at",
            (
                record.origin,
                origin_hash(record.origin),
                record.size,
                record.root,
                record.note,
                record.cosigned_at,
            ),
        )
