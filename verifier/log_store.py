"""The transparency log's tables in the verifier's store (schema version 4).

The log is RFC 9162: leaf ``i`` is the ``i``-th batch accepted, across all gateways, and
its entry is the batch header bytes followed by the header's 64-byte Ed25519 signature
(docs/formats.md, "Log entry"), so an auditor can check every entry's gateway
signature without the readings. ``append_entry`` runs inside the transaction that
accepts the batch (store.py), so a batch is accepted iff it is in the log, and the
index order is the commit order: SQLite's write lock serialises all workers; on
PostgreSQL the entries of a group are appended just before its COMMIT under the log
lock, held to COMMIT (store_postgres.py, "Locking").

Tiles (C2SP tlog-tiles) are kept one row per (level, index): always the widest version
written so far, since a narrower (partial) tile of the same tree is a prefix of it. The
checkpoints table keeps each signed note with the cosignatures and the anchor evidence
gathered for it; ``published`` marks the ones that met the witness policy.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgeseal import native
from edgeseal.tlog.tiles import TileId

# Entry format version, documented in docs/formats.md; the entry itself carries the
# header's own version byte, so this names the framing (header || signature).
LOG_ENTRY_FORMAT = 1
HEADER_SIGNATURE_BYTES = 64

LOG_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS log_entries ("
        " log_index INTEGER PRIMARY KEY,"  # 0, 1, 2 ... in acceptance order
        " batch_id INTEGER NOT NULL UNIQUE REFERENCES batches (batch_id),"
        " header_hash BLOB NOT NULL,"  # the batch's (unique in batches already)
        " entry BLOB NOT NULL,"  # header bytes || header signature (64 bytes)
        " leaf_hash BLOB NOT NULL)"  # RFC 9162 leaf hash: SHA-256(0x00 || entry)
    ),
    (
        "CREATE TABLE IF NOT EXISTS log_tiles ("
        " level INTEGER NOT NULL,"
        " tile_index INTEGER NOT NULL,"
        " data BLOB NOT NULL,"  # 32 * width bytes; the widest written so far
        " PRIMARY KEY (level, tile_index)) WITHOUT ROWID"
    ),
    (
        "CREATE TABLE IF NOT EXISTS log_checkpoints ("
        " size INTEGER PRIMARY KEY,"
        " root_hash BLOB NOT NULL,"
        " note BLOB NOT NULL,"  # the signed note, the log's signature only
        " cosigned_note BLOB,"  # with every cosignature gathered (NULL: none yet)
        " cosignatures INTEGER NOT NULL DEFAULT 0,"
        " evidence TEXT NOT NULL DEFAULT '[]',"  # JSON list of AnchorEvidence.to_json()
        " issued_us INTEGER NOT NULL,"
        " issued_by TEXT NOT NULL,"
        " published INTEGER NOT NULL DEFAULT 0,"  # met the witness policy
        " pending TEXT NOT NULL DEFAULT '',"  # what is still missing (witness, anchor)
        " attempt_us INTEGER NOT NULL DEFAULT 0)"  # last try at the missing parts
    ),
    (
        "CREATE TABLE IF NOT EXISTS log_witnesses ("
        " witness TEXT PRIMARY KEY,"  # the witness's key name
        " size INTEGER NOT NULL)"  # the size it last cosigned for this log
    ),
)


def log_entry(header_bytes: bytes, header_signature: bytes) -> bytes:
    """The log entry of a batch: its header bytes followed by the header's signature."""
    if len(header_signature) != HEADER_SIGNATURE_BYTES:
        raise ValueError(f"header signature is {len(header_signature)} bytes, expected 64")
    return header_bytes + header_signature


def split_entry(entry: bytes) -> tuple[bytes, bytes]:
    """(header bytes, header signature) of a log entry; ValueError if too short."""
    if len(entry) <= HEADER_SIGNATURE_BYTES:
        raise ValueError(f"log entry of {len(entry)} bytes is too short for header + signature")
    return entry[:-HEADER_SIGNATURE_BYTES], entry[-HEADER_SIGNATURE_BYTES:]


@dataclass(frozen=True)
class LogEntry:
    index: int
    batch_id: int
    header_hash: bytes
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root_hash: bytes
    note: bytes  # signed by the log only
    cosigned_note: bytes | None
    cosignatures: int
    evidence: list[dict[str, Any]]
    issued_us: int
    issued_by: str
    published: bool
    pending: str

    @property
    def best_note(self) -> bytes:
        """The note with every cosignature gathered, else the log-signed note."""
        return self.cosigned_note if self.cosigned_note is not None else self.note


_CHECKPOINT_COLUMNS = (
    "size, root_hash, note, cosigned_note, cosignatures, evidence, issued_us, issued_by,"
    " published, pending"
)


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=row[0],
        root_hash=bytes(row[1]),
        note=bytes(row[2]),
        cosigned_note=bytes(row[3]) if row[3] is not None else None,
        cosignatures=row[4],
        evidence=json.loads(row[5]),
        issued_us=row[6],
        issued_by=row[7],
        published=bool(row[8]),
        pending=row[9],
    )


class LogStore:
    """The log's reads and writes on a store connection (writes inside ``store.write()``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- entries ---------------------------------------------------------------------

    def append_entry(self, batch_id: int, header_hash: bytes, entry: bytes) -> int:
        """Append one entry at the next index (inside the accepting transaction)."""
        row = self._conn.execute("SELECT MAX(log_index) FROM log_entries").fetchone()
        index = 0 if row[0] is None else row[0] + 1
        self._conn.execute(
            "INSERT INTO log_entries (log_index, batch_id, header_hash, entry, leaf_hash)"
            " VALUES (?, ?, ?, ?, ?)",
            (index, batch_id, header_hash, entry, native.leaf_hash(entry)),
        )
        return index

    def append_entries(self, entries: Sequence[tuple[int, bytes, bytes]]) -> int:
        """Append (batch id, header hash, entry) at the next indexes, in order, with one
        read of the log's size; the index of the first."""
        first = self.size()
        self._conn.executemany(
            "INSERT INTO log_entries (log_index, batch_id, header_hash, entry, leaf_hash)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (first + i, batch_id, header_hash, entry, native.leaf_hash(entry))
                for i, (batch_id, header_hash, entry) in enumerate(entries)
            ],
        )
        return first

    def size(self) -> int:
        """How many entries the log holds (integrated into tiles or not)."""
        row = self._conn.execute("SELECT MAX(log_index) FROM log_entries").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def leaf_hashes(self, start: int, stop: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT leaf_hash FROM log_entries WHERE log_index >= ? AND log_index < ?"
            " ORDER BY log_index",
            (start, stop),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def entries(self, start: int, stop: int) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT entry FROM log_entries WHERE log_index >= ? AND log_index < ?"
            " ORDER BY log_index",
            (start, stop),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def entry_of_batch(self, batch_id: int) -> LogEntry | None:
        row = self._conn.execute(
            "SELECT log_index, batch_id, header_hash, entry, leaf_hash FROM log_entries"
            " WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        if row is None:
            return None
        return LogEntry(row[0], row[1], bytes(row[2]), bytes(row[3]), bytes(row[4]))

    # -- tiles -----------------------------------------------------------------------

    def tile(self, level: int, index: int) -> bytes | None:
        """The widest stored version of a tile (a partial tile is a prefix of it)."""
        row = self._conn.execute(
            "SELECT data FROM log_tiles WHERE level = ? AND tile_index = ?", (level, index)
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    def put_tiles(self, tiles: Sequence[tuple[int, int, bytes]]) -> None:
        """Store (level, index, data) tiles, keeping the wider version of each."""
        self._conn.executemany(
            "INSERT INTO log_tiles (level, tile_index, data) VALUES (?, ?, ?)"
            " ON CONFLICT (level, tile_index) DO UPDATE SET data = excluded.data"
            " WHERE length(excluded.data) > length(data)",
            tiles,
        )

    # -- checkpoints -----------------------------------------------------------------

    def integrated_size(self) -> int:
        """The size of the tree the tiles describe: that of the newest checkpoint."""
        row = self._conn.execute("SELECT MAX(size) FROM log_checkpoints").fetchone()
        return 0 if row[0] is None else int(row[0])

    def add_checkpoint(
        self, size: int, root_hash: bytes, note: bytes, *, issued_us: int, issued_by: str
    ) -> None:
        self._conn.execute(
            "INSERT INTO log_checkpoints (size, root_hash, note, issued_us, issued_by, pending,"
            " attempt_us) VALUES (?, ?, ?, ?, ?, 'witnesses anchors', 0)",
            (size, root_hash, note, issued_us, issued_by),
        )

    def complete_checkpoint(
        self,
        size: int,
        *,
        cosigned_note: bytes | None,
        cosignatures: int,
        evidence: list[dict[str, Any]],
        published: bool,
        pending: str,
        attempt_us: int,
    ) -> None:
        self._conn.execute(
            "UPDATE log_checkpoints SET cosigned_note = ?, cosignatures = ?, evidence = ?,"
            " published = ?, pending = ?, attempt_us = ? WHERE size = ?",
            (
                cosigned_note,
                cosignatures,
                json.dumps(evidence, sort_keys=True),
                int(published),
                pending,
                attempt_us,
                size,
            ),
        )

    def supersede_before(self, size: int) -> int:
        """Stop completing the checkpoints older than ``size`` (a newer one is published:
        witnesses and the contract refuse smaller trees anyway); how many there were."""
        cursor = self._conn.execute(
            "UPDATE log_checkpoints SET pending = '' WHERE size < ? AND pending != ''", (size,)
        )
        return cursor.rowcount

    def claim_incomplete(self, older_than_us: int, now_us: int) -> StoredCheckpoint | None:
        """The newest checkpoint still missing cosignatures or anchors whose last attempt
        is older than ``older_than_us``, marked as attempted now (inside write())."""
        row = self._conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE pending != ''"
            " AND attempt_us <= ? ORDER BY size DESC LIMIT 1",
            (older_than_us,),
        ).fetchone()
        if row is None:
            return None
        self._conn.execute(
            "UPDATE log_checkpoints SET attempt_us = ? WHERE size = ?", (now_us, row[0])
        )
        return _checkpoint(row)

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        row = self._conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return _checkpoint(row) if row is not None else None

    def latest_checkpoint(self, *, published: bool = True) -> StoredCheckpoint | None:
        """The newest checkpoint (that met the witness policy, unless ``published=False``)."""
        where = "WHERE published = 1 " if published else ""
        row = self._conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints {where}ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return _checkpoint(row) if row is not None else None

    def checkpoint_covering(self, index: int) -> StoredCheckpoint | None:
        """The newest published checkpoint whose tree includes entry ``index``."""
        row = self._conn.execute(
            f"SELECT {_CHECKPOINT_COLUMNS} FROM log_checkpoints WHERE published = 1"
            " AND size > ? ORDER BY size DESC LIMIT 1",
            (index,),
        ).fetchone()
        return _checkpoint(row) if row is not None else None

    # -- keys ------------------------------------------------------------------------

    def log_keys(self) -> tuple[str, tuple[str, ...]] | None:
        """(the log's verifier key, the witnesses' keys) the newest checkpoint was made
        with, for receipts; None before the first checkpoint."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'log_keys'").fetchone()
        if row is None:
            return None
        keys = json.loads(row[0])
        return str(keys["log"]), tuple(str(k) for k in keys["witnesses"])

    def set_log_keys(self, log_vkey: str, witness_vkeys: Sequence[str]) -> None:
        value = json.dumps({"log": log_vkey, "witnesses": list(witness_vkeys)})
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES ('log_keys', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (value,),
        )

    # -- witnesses -------------------------------------------------------------------

    def witness_size(self, witness: str) -> int:
        row = self._conn.execute(
            "SELECT size FROM log_witnesses WHERE witness = ?", (witness,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def set_witness_size(self, witness: str, size: int) -> None:
        self._conn.execute(
            "INSERT INTO log_witnesses (witness, size) VALUES (?, ?)"
            " ON CONFLICT (witness) DO UPDATE SET size = excluded.size",
            (witness, size),
        )


def tile_reader(log_store: LogStore) -> Callable[[TileId], bytes]:
    """``read_tile`` over the stored tiles: a partial tile is a prefix of the stored one."""

    def read_tile(tile: TileId) -> bytes:
        data = log_store.tile(tile.level, tile.index)
        if data is None or len(data) < 32 * tile.width:
            raise LookupError(f"tile {tile.level}/{tile.index} width {tile.width} is not stored")
        return data[: 32 * tile.width]

    return read_tile


def backfill(conn: sqlite3.Connection, decode_entry: Any) -> int:
    """Append every accepted batch not in the log yet, in acceptance (batch id) order.

    Used once when a store of schema 1..3 is upgraded: its batches were accepted before
    the log existed. ``decode_entry(payload) -> (header_hash, entry)``.
    """
    log_store = LogStore(conn)
    rows = conn.execute(
        "SELECT batch_id, payload FROM batches WHERE batch_id NOT IN"
        " (SELECT batch_id FROM log_entries) ORDER BY batch_id"
    ).fetchall()
    for batch_id, payload in rows:
        header_hash, entry = decode_entry(bytes(payload))
        log_store.append_entry(batch_id, header_hash, entry)
    return len(rows)
