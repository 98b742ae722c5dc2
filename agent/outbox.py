"""The durable outbox: SQLite (WAL) between the devices' ACKs and the broker's PUBACKs.

What it holds, and when each thing happens:

* ``pending``: signed readings, written (and fsynced) before the device gets its ACK.
* ``batches``: sealed batch payloads, written in the same transaction that removes
  their readings from ``pending`` and moves the chain head; deleted only after the
  verifier acknowledged them (a signed "accepted" or "duplicate" verdict naming the
  stored header hash), or, in legacy mode without a verifier key, the broker's PUBACK. A batch is never re-sealed: a re-send is
  byte-identical, so the back end recognises it by its header hash.
* ``device_progress``: the highest stored sequence number per (device, boot), so a
  reading the device resends after a crash (its ACK never arrived) is not stored twice.
* ``meta``: gateway id, chain head (seq, hash of the last sealed header), active key id.

Disk use is bounded: above ``max_bytes`` of stored readings and payloads the outbox
refuses new readings (``OutboxFull``) and the agent stops ACKing, which makes the
devices hold their data. SQLite's own "database or disk is full" is reported the
same way, so a full disk never loses an acknowledged reading. ``max_file_bytes``
caps the database file itself (SQLite ``max_page_count``).

``reserve``: a ballast row of ``reserve_bytes`` allocated inside the file. Sealing
a batch needs a few new pages even though it removes as many bytes from
``pending``; when the disk is full, sealing deletes the ballast in its own
transaction and uses that room. Intake refuses readings while the ballast is
missing, and it is re-allocated as soon as acknowledged batches free space, so
sealing (and therefore publishing, which is what frees space) can always proceed.

``disk reserve``: the ballast row only helps inside the database file. In WAL mode
every write, a DELETE too, first appends frames to the ``-wal`` file, and a
checkpoint may have to grow the database file; on a full file system both fail, and
SQLite checkpoints only after a successful commit, so the outbox could neither seal
nor forget acknowledged batches and the agent wedged. So a file of
``reserve_bytes`` next to the database (``<path>-reserve``) holds real disk space:
when sealing or forgetting hits a full disk, the outbox empties that file,
checkpoints the WAL into the database and truncates it, and retries. Intake stays
refused until both reserves are back, which happens as soon as checkpoints free
room, so forgetting acknowledged batches is always possible.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from edgeseal.agent.signer import SignedLeaf, SignedReading
from edgeseal.plumbing.sqlite_tx import write_transaction
from edgeseal.wire.batch import BatchHeader, SealedBatch
from edgeseal.wire.record import RECORD_TAG, ReadingRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
ZERO_HASH = bytes(32)
# Boots remembered per device for duplicate suppression; older ones cannot resend.
BOOTS_KEPT_PER_DEVICE = 8
# Space kept inside the database file for sealing when the disk is full (see Outbox).
# Batches forgotten per transaction (see _forget).
FORGET_CHUNK = 16
DEFAULT_RESERVE_BYTES = 256 * 1024
RESERVE_RETRY_S = 1.0
DISK_RESERVE_SUFFIX = "-reserve"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record BLOB NOT NULL,
    signature BLOB NOT NULL,
    time_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS reserve (id INTEGER PRIMARY KEY, ballast BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS device_progress (
    device_id INTEGER NOT NULL,
    boot_id INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (device_id, boot_id)
);
"""


class OutboxError(RuntimeError):
    """The outbox file cannot be used (wrong gateway, newer schema, corrupt)."""


class OutboxFull(Exception):
    """Nothing was stored: the configured bound is reached or the disk is full."""


@dataclass(frozen=True)
class PendingReading:
    id: int
    record: bytes
    signature: bytes
    time_us: int


@dataclass(frozen=True)
class StoredBatch:
    seq: int
    hash: bytes
    payload: bytes


@dataclass(frozen=True)
class ChainHead:
    seq: int  # seq of the last sealed batch, 0 before the first
    hash: bytes  # its header hash, 32 zero bytes before the first
    active_key_id: bytes | None  # the key that signs the next batch, None if unknown yet


_SQLITE_FULL = 13  # sqlite3.h: "Insertion failed because database is full"


def _is_disk_full(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == _SQLITE_FULL or "disk is full" in str(exc)


class Outbox:
    """One SQLite file; used from a single thread (the agent's pipeline)."""

    def __init__(
        self,
        path: Path,
        *,
        gateway_id: str,
        max_bytes: int,
        max_file_bytes: int | None = None,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.reserve_bytes = reserve_bytes
        self._reserve_ok = False
        self._reserve_failed_at: float | None = None
        self._disk_reserve = path.with_name(path.name + DISK_RESERVE_SUFFIX)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from None
        try:
            self._setup(gateway_id, max_file_bytes)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise OutboxError(f"outbox {path} is not usable: {exc}") from None
        except OutboxError:
            self._db.close()
            raise

    # --- setup --------------------------------------------------------------------------

    def _setup(self, gateway_id: str, max_file_bytes: int | None) -> None:
        db = self._db
        # Freed pages go back to the file system (``_shrink``): on a full disk, the space
        # of forgotten batches must become room for the disk reserve again, or intake
        # would stay refused with an empty outbox. Takes effect on a new file; an older
        # outbox keeps its pages inside the file (as before) until it is recreated.
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise OutboxError(f"outbox {self.path}: SQLite refused WAL mode (got {mode})")
        # FULL: a commit is on stable storage before we ACK the device (power loss safe).
        db.execute("PRAGMA synchronous=FULL")
        # The WAL is checkpointed (and its file cut back) at half the reserve, so that the
        # disk reserve always covers what a checkpoint on a full disk adds to the database
        # file; by default (1000 pages) the WAL alone could fill a small disk first.
        wal_limit = self.reserve_bytes // 2 if self.reserve_bytes > 0 else 4 * 1024 * 1024
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        db.execute(f"PRAGMA journal_size_limit={wal_limit}")
        db.execute(f"PRAGMA wal_autocheckpoint={max(8, wal_limit // page_size)}")
        if max_file_bytes is not None:
            db.execute(f"PRAGMA max_page_count={max(16, max_file_bytes // page_size)}")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            with self._transaction():
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("schema", SCHEMA_VERSION),
                        ("gateway_id", gateway_id),
                        ("head_seq", 0),
                        ("head_hash", ZERO_HASH),
                    ],
                )
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if int(meta["schema"]) > SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {self.path} has schema {meta['schema']}, newer than this agent "
                f"({SCHEMA_VERSION}); upgrade the agent"
            )
        if meta["gateway_id"] != gateway_id:
            raise OutboxError(
                f"outbox {self.path} belongs to gateway {meta['gateway_id']!r}, not {gateway_id!r}; "
                "point outbox.path at this gateway's own file"
            )
        self._progress: dict[tuple[int, int], int] = {
            (d, b): s
            for d, b, s in db.execute("SELECT device_id, boot_id, last_seq FROM device_progress")
        }
        self._bytes = int(
            db.execute(
                "SELECT (SELECT COALESCE(SUM(LENGTH(record) + LENGTH(signature)), 0) FROM pending)"
                " + (SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM batches)"
            ).fetchone()[0]
        )
        self._pending = int(db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])
        self._batches = int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
        self.restore_reserve()
        self._tick = int(
            db.execute("SELECT COALESCE(MAX(updated), 0) FROM device_progress").fetchone()[0]
        )

    def _transaction(self) -> AbstractContextManager[None]:
        return write_transaction(self._db)

    def close(self) -> None:
        self._db.close()

    # --- state --------------------------------------------------------------------------

    @property
    def stored_bytes(self) -> int:
        """Bytes of readings and payloads held (the quantity ``max_bytes`` bounds)."""
        return self._bytes

    @property
    def pending_count(self) -> int:
        return self._pending

    @property
    def batch_count(self) -> int:
        return self._batches

    @property
    def over_bound(self) -> bool:
        return self._bytes >= self.max_bytes

    def device_progress(self) -> dict[tuple[int, int], int]:
        """Highest stored seq per (device, boot): where each device's stream resumes."""
        return dict(self._progress)

    def refusal(self) -> str | None:
        """Why new readings cannot be stored now (bound reached, disk full), or None."""
        if self.over_bound:
            return f"outbox holds {self._bytes} bytes, at its bound of {self.max_bytes} (outbox.max_bytes)"
        return self.disk_refusal()

    def disk_refusal(self) -> str | None:
        """Why nothing at all can be stored now (disk full), or None."""
        if not self.restore_reserve():
            return (
                f"outbox {self.path}: disk full (the space left is kept for sealing and "
                "is released as the broker acknowledges batches)"
            )
        return None

    def last_stored_seq(self, device_id: int, boot_id: int) -> int | None:
        return self._progress.get((device_id, boot_id))

    def chain_head(self) -> ChainHead:
        meta = dict(
            self._db.execute(
                "SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash', 'active_key_id')"
            ).fetchall()
        )
        return ChainHead(
            seq=int(meta["head_seq"]),
            hash=bytes(meta["head_hash"]),
            active_key_id=bytes(meta["active_key_id"]) if "active_key_id" in meta else None,
        )

    def set_active_key_id(self, key_id: bytes) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('active_key_id', ?)", (key_id,)
            )

    # --- readings -----------------------------------------------------------------------

    def add_readings(self, readings: Sequence[SignedLeaf], *, over_bound: bool = False) -> None:
        """Store readings (and events, sealed in the same order) durably in one
        transaction, or raise OutboxFull storing none.

        Readings at or below a device's stored progress must have been filtered out
        by the caller (``last_stored_seq``); they are rejected here as a safeguard.
        """
        if not readings:
            return
        # ``over_bound``: the caller dropped unsealed readings for these (drop-oldest);
        # a full disk still refuses them.
        reason = self.disk_refusal() if over_bound else self.refusal()
        if reason is not None:
            raise OutboxFull(reason)
        progress: dict[tuple[int, int], int] = {}
        for r in readings:
            if not isinstance(r, SignedReading):
                continue  # events carry no device progress
            key = (r.device_id, r.boot_id)
            last = progress.get(key, self._progress.get(key, -1))
            if r.seq <= last:
                raise ValueError(
                    f"reading {r.seq} of device {r.device_id} boot {r.boot_id} is at or below "
                    f"the stored progress {last}; it would be a duplicate"
                )
            progress[key] = r.seq
        tick = self._tick + 1
        new_boots = {d for (d, b) in progress if (d, b) not in self._progress}
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO pending (record, signature, time_us) VALUES (?, ?, ?)",
                    [(r.record, r.signature, r.time_us) for r in readings],
                )
                self._db.executemany(
                    "INSERT INTO device_progress (device_id, boot_id, last_seq, updated) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (device_id, boot_id) "
                    "DO UPDATE SET last_seq = excluded.last_seq, updated = excluded.updated",
                    [(d, b, s, tick) for (d, b), s in progress.items()],
                )
                for device_id in new_boots:
                    self._db.execute(
                        "DELETE FROM device_progress WHERE device_id = ? AND boot_id NOT IN "
                        "(SELECT boot_id FROM device_progress WHERE device_id = ? "
                        " ORDER BY updated DESC LIMIT ?)",
                        (device_id, device_id, BOOTS_KEPT_PER_DEVICE),
                    )
        except sqlite3.Error as exc:
            if _is_disk_full(exc):
                raise OutboxFull(f"outbox {self.path}: {exc}") from None
            raise
        self._tick = tick
        self._progress.update(progress)
        if new_boots:
            self._progress = {
                (d, b): s
                for d, b, s in self._db.execute(
                    "SELECT device_id, boot_id, last_seq FROM device_progress"
                )
            }
        self._pending += len(readings)
        self._bytes += sum(len(r.record) + len(r.signature) for r in readings)

    def sealed_bytes(self) -> int:
        """Bytes of the sealed batches held (the part of ``stored_bytes`` not pending)."""
        row = self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM batches").fetchone()
        return int(row[0])

    def is_pending(self, row_id: int) -> bool:
        return (
            self._db.execute("SELECT 1 FROM pending WHERE id = ?", (row_id,)).fetchone() is not None
        )

    def oldest_batch_time_us(self) -> int | None:
        """first_time_us of the oldest stored batch (only its header is read), or None."""
        head = self._db.execute(
            "SELECT substr(payload, 1, 300) FROM batches ORDER BY seq LIMIT 1"
        ).fetchone()
        if head is None:
            return None
        prefix = bytes(head[0])
        length = int.from_bytes(prefix[4:6], "big")
        return BatchHeader.decode(prefix[6 : 6 + length]).first_time_us

    def oldest_unsent_us(self) -> int | None:
        """Gateway time (UNIX us) of the oldest item not yet acknowledged: the oldest
        unsealed reading or event, or the first reading of the oldest stored batch."""
        found: list[int] = []
        row = self._db.execute("SELECT MIN(time_us) FROM pending").fetchone()
        if row[0] is not None:
            found.append(int(row[0]))
        oldest_batch = self.oldest_batch_time_us()
        if oldest_batch is not None:
            found.append(oldest_batch)
        return min(found) if found else None

    def oldest_pending_readings(
        self, limit: int, *, before_us: int | None = None
    ) -> list[tuple[int, ReadingRecord]]:
        """The oldest unsealed readings (never events), with their row ids; only those
        that arrived before ``before_us`` if given."""
        rows = self._db.execute(
            "SELECT id, record FROM pending WHERE substr(record, 1, 4) = ?"
            " AND time_us < ? ORDER BY id LIMIT ?",
            (RECORD_TAG, 2**63 - 1 if before_us is None else before_us, limit),
        ).fetchall()
        return [(int(i), ReadingRecord.decode(bytes(r))) for i, r in rows]

    def drop_pending(self, ids: Sequence[int], notices: Sequence[tuple[int, SignedLeaf]]) -> None:
        """Drop unsealed readings and store the signed loss notices that name them, each
        at the row id of the first reading it names (so it is sealed where they were),
        in one transaction."""
        sizes = self._db.execute(
            f"SELECT COALESCE(SUM(LENGTH(record) + LENGTH(signature)), 0), COUNT(*) FROM pending"
            f" WHERE id IN ({','.join('?' * len(ids))})",
            list(ids),
        ).fetchone()
        with self._transaction():
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
            self._db.executemany(
                "INSERT INTO pending (id, record, signature, time_us) VALUES (?, ?, ?, ?)",
                [(i, n.record, n.signature, n.time_us) for i, n in notices],
            )
        self._pending += len(notices) - int(sizes[1])
        self._bytes += sum(len(n.record) + len(n.signature) for _, n in notices) - int(sizes[0])

    def take_pending(self, limit: int) -> list[PendingReading]:
        """The oldest ``limit`` unsealed readings, in arrival order (not removed)."""
        rows = self._db.execute(
            "SELECT id, record, signature, time_us FROM pending ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [PendingReading(int(i), bytes(r), bytes(s), int(t)) for i, r, s, t in rows]

    # --- batches ------------------------------------------------------------------------

    def commit_batch(
        self,
        batch: SealedBatch,
        readings: Sequence[PendingReading],
        *,
        next_key_id: bytes | None = None,
    ) -> StoredBatch:
        """Store a sealed batch, drop its readings from pending and move the chain head.

        All in one transaction: after a crash either the batch exists and its readings
        are gone, or nothing happened and the readings are sealed again later.
        ``next_key_id`` records a key rotation announced by this batch.
        """
        head = self.chain_head()
        if batch.header.seq != head.seq + 1 or batch.header.prev_hash != head.hash:
            raise OutboxError(
                f"batch {batch.header.seq} does not extend the chain head {head.seq}; "
                "refusing to fork the chain"
            )
        ids = [r.id for r in readings]
        if len(ids) != batch.header.count:
            raise ValueError(f"batch holds {batch.header.count} readings, {len(ids)} given")
        payload = batch.to_payload()
        digest = batch.hash
        freed = sum(len(r.record) + len(r.signature) for r in readings)
        try:
            self._write_batch(
                batch.header.seq, digest, payload, ids, next_key_id, use_reserve=False
            )
        except sqlite3.Error as exc:
            if not _is_disk_full(exc):
                raise
            # Pending readings filled the disk: spend the reserve so that sealing (and
            # then publishing, which frees space) can go on. Intake never uses it.
            self._reserve_ok = False
            self._with_room(
                lambda: self._write_batch(
                    batch.header.seq, digest, payload, ids, next_key_id, use_reserve=True
                ),
                f"seal batch {batch.header.seq}",
            )
            log.warning(
                "outbox %s: disk full; used the %d-byte reserve to seal batch %d",
                self.path,
                self.reserve_bytes,
                batch.header.seq,
            )
        self._pending -= len(ids)
        self._batches += 1
        self._bytes += len(payload) - freed
        return StoredBatch(batch.header.seq, digest, payload)

    def _write_batch(
        self,
        seq: int,
        digest: bytes,
        payload: bytes,
        ids: list[int],
        next_key_id: bytes | None,
        *,
        use_reserve: bool,
    ) -> None:
        with self._transaction():
            if use_reserve:
                self._db.execute("DELETE FROM reserve")
            # Delete first: the freed pages are reused for the payload, so sealing
            # still fits when the disk (or file cap) is full of pending readings.
            deleted = self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
            if deleted.rowcount != len(ids):
                raise OutboxError("sealed readings were no longer pending; refusing to seal")
            self._db.execute(
                "INSERT INTO batches (seq, hash, payload) VALUES (?, ?, ?)",
                (seq, digest, payload),
            )
            self._db.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(seq, "head_seq"), (digest, "head_hash")],
            )
            if next_key_id is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('active_key_id', ?)",
                    (next_key_id,),
                )

    def unpublished(self, after_seq: int, limit: int) -> list[StoredBatch]:
        """Stored batches with seq > ``after_seq``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, hash, payload FROM batches WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [StoredBatch(int(s), bytes(h), bytes(p)) for s, h, p in rows]

    def oldest_batch_seq(self) -> int | None:
        row = self._db.execute("SELECT MIN(seq) FROM batches").fetchone()
        return None if row[0] is None else int(row[0])

    def batch(self, seq: int) -> StoredBatch | None:
        row = self._db.execute(
            "SELECT seq, hash, payload FROM batches WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else StoredBatch(int(row[0]), bytes(row[1]), bytes(row[2]))

    def batch_hash(self, seq: int) -> bytes | None:
        """The header hash of the stored batch ``seq``, None if it is not (or no longer) held."""
        row = self._db.execute("SELECT hash FROM batches WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else bytes(row[0])

    def stored_seqs(self, first: int, last: int) -> list[int]:
        """Seqs of the stored batches in ``first..last``, ascending."""
        rows = self._db.execute(
            "SELECT seq FROM batches WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
        ).fetchall()
        return [int(r[0]) for r in rows]

    def mark_published(self, seqs: Iterable[int]) -> int:
        """Legacy mode: forget batches the broker acknowledged; returns how many were removed."""
        wanted = sorted(set(seqs))
        return self._forget({seq: None for seq in wanted})

    def forget_acknowledged(self, acknowledged: Mapping[int, bytes]) -> int:
        """Forget batches the verifier acknowledged: seq -> the header hash its signed
        verdict named. A batch is deleted only if its stored hash is that one."""
        return self._forget(dict(acknowledged))

    def _forget(self, wanted: Mapping[int, bytes | None]) -> int:
        # In chunks, each its own transaction: a whole backlog acknowledged at once (after
        # an outage) in one DELETE needs more WAL room than a full disk has, even with the
        # reserve released, and more OR terms than SQLite's expression depth allows (1000).
        items = sorted(wanted.items())
        forgotten = sum(
            self._forget_chunk(dict(items[i : i + FORGET_CHUNK]))
            for i in range(0, len(items), FORGET_CHUNK)
        )
        if forgotten:
            self._shrink()
            self.restore_reserve(force=True)  # the space just freed goes to the reserve first
        return forgotten

    def _forget_chunk(self, wanted: Mapping[int, bytes | None]) -> int:
        if not wanted:
            return 0
        conditions = " OR ".join(
            "(seq = ?)" if h is None else "(seq = ? AND hash = ?)" for h in wanted.values()
        )
        params: list[object] = []
        for seq, digest in wanted.items():
            params += [seq] if digest is None else [seq, digest]
        sizes = self._db.execute(
            f"SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM batches WHERE {conditions}",
            params,
        ).fetchone()

        # No fsync for this commit (synchronous=NORMAL): if power fails before the next
        # FULL commit flushes the WAL, the deletion is lost and the batch is re-sent, a
        # byte-identical duplicate the back end recognises. Intake and sealing stay FULL:
        # an ACK or a publish must never precede durability.
        def delete() -> None:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._transaction():
                    self._db.execute(f"DELETE FROM batches WHERE {conditions}", params)
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

        self._with_room(delete, f"forget {int(sizes[1])} acknowledged batches")
        self._bytes -= int(sizes[0])
        self._batches -= int(sizes[1])
        return int(sizes[1])

    def _with_room(self, write: Callable[[], None], what: str) -> None:
        """Run ``write``; on a full disk spend the disk reserve, checkpoint, and retry once.

        For the writes that free space (sealing, forgetting), never for intake. Raises
        OutboxFull if even that is not enough room.
        """
        try:
            write()
            return
        except sqlite3.Error as exc:
            if not _is_disk_full(exc):
                raise
        released = self._release_disk_reserve()
        self._reserve_ok = False
        self._checkpoint()
        try:
            write()
        except sqlite3.Error as exc:
            if _is_disk_full(exc):
                raise OutboxFull(f"outbox {self.path}: {exc}") from None
            raise
        log.warning(
            "outbox %s: disk full; %s to %s",
            self.path,
            f"released the {released}-byte disk reserve and checkpointed the WAL"
            if released
            else "checkpointed the WAL",
            what,
        )

    def _shrink(self) -> None:
        """Hand the database's free pages back to the file system (auto_vacuum=INCREMENTAL).

        Moving pages writes WAL frames, so on a full disk the disk reserve is released
        first; the caller restores it from the space this frees.
        """
        if not self._db.execute("PRAGMA freelist_count").fetchone()[0]:
            return
        self._release_disk_reserve()
        try:
            # executescript steps the pragma to the end; execute() frees one page per step
            self._db.executescript("PRAGMA incremental_vacuum;")
        except sqlite3.Error as exc:
            if not _is_disk_full(exc):
                raise
        self._checkpoint()

    def _checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate it; False if that failed."""
        try:
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as exc:
            if _is_disk_full(exc):
                return False
            raise
        return not busy

    def _release_disk_reserve(self) -> int:
        try:
            size = self._disk_reserve.stat().st_size
            os.truncate(self._disk_reserve, 0)
        except FileNotFoundError:
            return 0
        return size

    @property
    def has_disk_reserve(self) -> bool:
        try:
            return self._disk_reserve.stat().st_size >= self.reserve_bytes
        except FileNotFoundError:
            return False

    def _restore_disk_reserve(self) -> bool:
        """Fill ``<path>-reserve`` to ``reserve_bytes`` with real (written, synced) blocks."""
        if self.has_disk_reserve:
            return True
        self._shrink()  # free pages and the WAL's space first go back to the file system
        try:
            with open(self._disk_reserve, "wb") as f:
                f.write(bytes(self.reserve_bytes))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self._release_disk_reserve()
            return False
        return True

    @property
    def has_reserve(self) -> bool:
        return bool(self._db.execute("SELECT COUNT(*) FROM reserve").fetchone()[0])

    def restore_reserve(self, *, force: bool = False) -> bool:
        """(Re)allocate the sealing reserve if it is missing; False if there is no room yet.

        After a failed attempt the next one waits a second (each costs a transaction)
        unless ``force`` says space was just freed.
        """
        if self.reserve_bytes <= 0 or self._reserve_ok:
            return True
        now = time.monotonic()
        failed = self._reserve_failed_at
        if not force and failed is not None and now - failed < RESERVE_RETRY_S:
            return False
        try:
            if not self._restore_disk_reserve():
                raise sqlite3.OperationalError("database or disk is full (disk reserve)")
            if self.has_reserve:
                self._reserve_ok = True
                self._reserve_failed_at = None
                return True
            with self._transaction():
                self._db.execute(
                    "INSERT INTO reserve (id, ballast) VALUES (1, zeroblob(?))",
                    (self.reserve_bytes,),
                )
            self._checkpoint()  # a WAL as big as the ballast must not wait on the disk
        except sqlite3.Error as exc:
            if _is_disk_full(exc):
                if failed is None:
                    log.warning(
                        "outbox %s: disk full; no room yet for the sealing reserve", self.path
                    )
                self._reserve_failed_at = now
                return False
            raise
        self._reserve_ok = True
        self._reserve_failed_at = None
        return True
