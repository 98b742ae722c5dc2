"""The verifier's SQLite store: chain heads, accepted batches and readings, held and
quarantined batches.

One file shared by every worker (WAL mode). Anything that reads the chain head and
then changes it runs inside ``write()`` (BEGIN IMMEDIATE): SQLite lets one such
transaction run at a time, so two workers can never both extend a chain at the same
seq. Accepted batches keep their payload bytes, so receipts can be rebuilt from the
store alone.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from itertools import count, repeat
from pathlib import Path
from typing import Any, cast

from edgeseal.plumbing.sqlite_tx import write_transaction
from edgeseal.verifier.accounts_store import ACCOUNTS_SCHEMA, AccountBook, create_accounts
from edgeseal.verifier.chain import ChainState
from edgeseal.verifier.limits import QUARANTINE_PREFIX_BYTES, StoreLimits
from edgeseal.verifier.log_store import LOG_SCHEMA, LogStore, backfill, log_entry
from edgeseal.verifier.store_postgres import (
    QUARANTINE_USAGE_TRIGGERS,
    PgConnection,
    begin_locked,
    is_postgres_url,
    lock_log,
)
from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.record import RecordColumns

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_heads (
    gateway_id TEXT PRIMARY KEY,
    head_seq INTEGER NOT NULL,
    head_hash BLOB NOT NULL,
    public_key BLOB NOT NULL,          -- the key that must sign batch head_seq + 1
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    header_hash BLOB NOT NULL UNIQUE,
    public_key BLOB NOT NULL,          -- the key the header and every reading verified under
    next_public_key BLOB,              -- the key this batch announced (rotation), else NULL
    root BLOB NOT NULL,
    count INTEGER NOT NULL,
    first_time_us INTEGER NOT NULL,
    last_time_us INTEGER NOT NULL,
    payload BLOB NOT NULL,             -- the MQTT payload exactly as received
    accepted_us INTEGER NOT NULL,
    worker TEXT NOT NULL,
    UNIQUE (gateway_id, seq)
);
CREATE TABLE IF NOT EXISTS readings (
    gateway_id TEXT NOT NULL,
    device_id INTEGER NOT NULL,
    device_seq INTEGER NOT NULL,
    boot_id INTEGER NOT NULL,
    channel INTEGER NOT NULL,
    unit INTEGER NOT NULL,
    mantissa INTEGER NOT NULL,
    exponent INTEGER NOT NULL,
    time_kind INTEGER NOT NULL,
    device_time_ms INTEGER NOT NULL,   -- u64 stored bit for bit in SQLite's i64
    gateway_time_us INTEGER NOT NULL,  -- idem
    batch_id INTEGER NOT NULL REFERENCES batches (batch_id),
    leaf_index INTEGER NOT NULL,
    -- a reading is accepted once: its identity is unique (replays are refused)
    PRIMARY KEY (gateway_id, device_id, device_seq, boot_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (gateway_id, device_id, gateway_time_us);
CREATE TABLE IF NOT EXISTS pending (
    header_hash BLOB PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    verified_key BLOB,                 -- every signature checked under this key, NULL: not yet
    received_us INTEGER NOT NULL,
    worker TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_seq ON pending (gateway_id, seq);
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id INTEGER PRIMARY KEY,
    gateway_id TEXT,                   -- NULL when not even the topic names a gateway
    seq INTEGER,
    header_hash BLOB,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,             -- the raw bytes, or their first bytes (limits.py)
    received_us INTEGER NOT NULL,
    worker TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_by_gateway ON quarantine (gateway_id, received_us);
"""

# Schema 2: the quarantine keeps a digest, the length and a count per distinct payload
# and reason, and its bytes are bounded (limits.py). Applied to a schema 1 store too.
_QUARANTINE_COLUMNS_V2 = (
    ("payload_sha256", "BLOB"),  # SHA-256 of the whole payload as received
    ("payload_len", "INTEGER"),  # its length; > length(payload) when only a prefix is kept
    ("times_seen", "INTEGER NOT NULL DEFAULT 1"),  # the same payload refused again
    ("last_received_us", "INTEGER"),
    # whose budget the row counts against: the gateway id if enrolled, '' otherwise
    ("budget", "TEXT NOT NULL DEFAULT ''"),
    ("stored_bytes", "INTEGER NOT NULL DEFAULT 0"),  # payload kept + detail + topic
)
_SCHEMA_V2 = (
    # Not unique: stores of schema 1 may hold the same payload twice; new rows never do.
    "CREATE INDEX IF NOT EXISTS quarantine_by_digest ON quarantine (payload_sha256, reason, budget)",
    (
        "CREATE TABLE IF NOT EXISTS quarantine_usage ("
        " budget TEXT PRIMARY KEY, stored_bytes INTEGER NOT NULL)"
    ),
    # Kept by triggers, so rows an operator deletes by hand give their room back.
    (
        "CREATE TRIGGER IF NOT EXISTS quarantine_usage_insert AFTER INSERT ON quarantine BEGIN"
        " INSERT INTO quarantine_usage (budget, stored_bytes) VALUES (new.budget, new.stored_bytes)"
        " ON CONFLICT (budget) DO UPDATE SET stored_bytes = stored_bytes + excluded.stored_bytes;"
        " END"
    ),
    (
        "CREATE TRIGGER IF NOT EXISTS quarantine_usage_delete AFTER DELETE ON quarantine BEGIN"
        " UPDATE quarantine_usage SET stored_bytes = stored_bytes - old.stored_bytes"
        " WHERE budget = old.budget;"
        " END"
    ),
    # Refusals not stored one by one because their budget was full.
    (
        "CREATE TABLE IF NOT EXISTS quarantine_overflow ("
        " budget TEXT NOT NULL, reason TEXT NOT NULL,"
        " refused INTEGER NOT NULL, payload_bytes INTEGER NOT NULL,"
        " last_received_us INTEGER NOT NULL, PRIMARY KEY (budget, reason))"
    ),
)
# Schema 3: gaps an operator declared lost (``edgeseal verifier-accept-loss``), one audit
# row each. Applied to stores of schema 1 and 2 too.
_SCHEMA_V3 = (
    (
        "CREATE TABLE IF NOT EXISTS accepted_losses ("
        " loss_id INTEGER PRIMARY KEY,"
        " gateway_id TEXT NOT NULL,"
        " first_seq INTEGER NOT NULL,"  # the seqs first_seq..last_seq will never be verified
        " last_seq INTEGER NOT NULL,"
        " decided_by TEXT NOT NULL,"  # who decided, as the operator gave it
        " reason TEXT NOT NULL,"  # why
        " decided_us INTEGER NOT NULL,"
        " head_hash BLOB NOT NULL,"  # the header hash of seq first_seq - 1 (ZERO_HASH: none)
        # the held batch at last_seq + 1 and the prev_hash it claims for last_seq: the one
        # link of the chain not verified, taken on the operator's word
        " continued_by BLOB NOT NULL,"
        " claimed_prev_hash BLOB NOT NULL,"
        " UNIQUE (gateway_id, first_seq))"
    ),
)
# Per quarantine row, besides its payload, detail and topic (ids, times, index entries).
QUARANTINE_ROW_OVERHEAD = 128

_READING_COLUMNS = (
    "gateway_id",
    "device_id",
    "device_seq",
    "boot_id",
    "channel",
    "unit",
    "mantissa",
    "exponent",
    "time_kind",
    "device_time_ms",
    "gateway_time_us",
    "batch_id",
    "leaf_index",
)
# Their PostgreSQL types (INTEGER is BIGINT there), for the binary COPY.
_READING_TYPES = ("text", *["int8"] * (len(_READING_COLUMNS) - 1))
_INSERT_READING = (
    f"INSERT INTO readings ({', '.join(_READING_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_READING_COLUMNS))})"
)
# SQLite copies the WAL back into the database (a checkpoint, with an fsync of both
# files even at synchronous=NORMAL) after every 1000 pages by default: with small
# batches, which dirty ~45 pages each, that is every ~20 batches and cost a third of
# the time per batch in bench_verifier. 10000 pages (~40 MiB of WAL at 4 KiB pages)
# checkpoints ten times less often and writes pages that change often only once.
WAL_AUTOCHECKPOINT_PAGES = 10_000

_I64 = 2**63
_U64 = 2**64


def to_i64(value: int) -> int:
    """A u64 as SQLite's signed 64-bit INTEGER, bit for bit (values >= 2^63 wrap)."""
    return value - _U64 if value >= _I64 else value


def to_i64_column(values: tuple[int, ...]) -> Sequence[int]:
    """``to_i64`` over a column; the column itself when no value needs it (the usual case)."""
    if not values or max(values) < _I64:
        return values
    return [to_i64(v) for v in values]


def from_i64(value: int) -> int:
    return value + _U64 if value < 0 else value


def create_postgres_schema(conn: PgConnection) -> str | None:
    """Create the tables of schema SCHEMA_VERSION in an empty PostgreSQL database (inside
    write()); the version the database had (None: it was empty). A PostgreSQL store was
    never older than schema 5, so there is nothing to upgrade yet; a newer one is refused.
    """
    row = None
    if conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None:
        check_schema_version(row[0], conn.where)
        return str(row[0])
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    for name, decl in _QUARANTINE_COLUMNS_V2:
        conn.execute(f"ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS {name} {decl}")
    for statement in _SCHEMA_V2:
        if "TRIGGER" not in statement:
            conn.execute(statement)
    for statement in QUARANTINE_USAGE_TRIGGERS:
        conn.execute(statement)
    for statement in (*_SCHEMA_V3, *LOG_SCHEMA, *ACCOUNTS_SCHEMA):
        conn.execute(statement)
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    return None


def check_schema_version(found: str, where: str) -> None:
    """Refuse a store this code cannot read (written by a newer verifier, or foreign)."""
    if found in {str(v) for v in range(1, SCHEMA_VERSION + 1)}:
        return
    if found.isdigit() and int(found) > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {found}, newer than this verifier's "
            f"{SCHEMA_VERSION}: it was written by a newer edgeseal; upgrade edgeseal "
            "(stores are never downgraded)"
        )
    raise StoreError(f"{where} has schema version {found!r}; this verifier reads {SCHEMA_VERSION}")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _entry_of_payload(payload: bytes) -> tuple[bytes, bytes]:
    sealed = SealedBatch.from_payload(payload)
    return sealed.hash, log_entry(sealed.header_bytes, sealed.header_signature)


def now_us() -> int:
    return time.time_ns() // 1000


class StoreError(RuntimeError):
    """The store cannot be opened or is not an edgeseal verifier store."""


class ReplayDetected(Exception):
    """Some readings of a batch were already accepted (inside ``accept``, rolled back)."""

    def __init__(self, indices: list[int], batch_ids: list[int]) -> None:
        super().__init__(f"readings at indices {indices} already accepted")
        self.indices = indices
        self.batch_ids = batch_ids


@dataclass(frozen=True)
class AcceptedBatch:
    batch_id: int
    gateway_id: str
    seq: int
    header_hash: bytes
    public_key: bytes
    payload: bytes


@dataclass(frozen=True)
class StoredReading:
    gateway_id: str
    device_id: int
    device_seq: int
    boot_id: int
    gateway_time_us: int
    batch_id: int
    leaf_index: int


@dataclass(frozen=True)
class HeldBatch:
    header_hash: bytes
    gateway_id: str
    seq: int
    topic: str
    payload: bytes
    verified_key: bytes | None
    received_us: int


@dataclass(frozen=True)
class Gap:
    """Batches held for one gateway: what operators must see."""

    gateway_id: str
    waiting_for: int
    held: int
    held_seqs: tuple[int, ...]
    oldest_received_us: int


@dataclass(frozen=True)
class AcceptedLoss:
    """An operator's decision that seqs first_seq..last_seq of a gateway are lost for good."""

    loss_id: int
    gateway_id: str
    first_seq: int
    last_seq: int
    decided_by: str
    reason: str
    decided_us: int
    head_hash: bytes  # header hash of the accepted batch first_seq - 1 (ZERO_HASH: none)
    continued_by: bytes  # header hash of the held batch at last_seq + 1
    claimed_prev_hash: bytes  # its prev_hash: the link across the gap, not verified


@dataclass(frozen=True)
class QuarantineResult:
    """What ``quarantine`` kept of a refused batch."""

    quarantine_id: int | None  # None: not stored, its budget was full
    repeat: bool = False  # the same payload was refused for this reason before: counted
    whole: bool = False  # the payload is kept whole (else its digest and first bytes)
    full: str | None = None  # the limit that was reached, when not stored
    not_stored: int = 0  # refusals of this budget and reason not stored, this one included


@dataclass(frozen=True)
class QuarantinedBatch:
    quarantine_id: int
    gateway_id: str | None
    seq: int | None
    header_hash: bytes | None
    reason: str
    detail: str
    topic: str
    payload: bytes
    received_us: int
    worker: str
    payload_len: int  # > len(payload) when only the first bytes are kept
    payload_sha256: bytes
    times_seen: int


class VerifierStore:
    """One connection to the store (a SQLite file or a PostgreSQL database); not shared
    between threads."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "full",
        busy_timeout_s: float = 30.0,
        log_entries: bool = True,
    ) -> None:
        """``path``: the SQLite file, or a ``postgresql://`` URL (store_postgres.py).

        ``log_entries=False`` leaves accepted batches out of the transparency log: only
        for measuring what the log costs (benchmarks); such a store's log is incomplete."""
        self._log_entries = log_entries
        self._busy_timeout_s = busy_timeout_s
        # PostgreSQL writes for given gateways (write()): whether the log lock is held, and
        # the log entries waiting for the end of the transaction (None: append at once).
        self._log_locked = False
        self._log_deferred: list[tuple[int, bytes, bytes]] | None = None
        self.postgres: PgConnection | None = None
        if isinstance(path, str) and is_postgres_url(path):
            self._open_postgres(path)
            return
        self.path = Path(path)
        self.where = str(self.path)
        try:
            self._conn = sqlite3.connect(
                str(self.path),
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._enable_wal(busy_timeout_s)
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            self._conn.execute(
                f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}"
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open verifier store {self.path}: {exc}") from None
        self._create_schema()
        self.log = LogStore(self._conn)
        self.accounts = AccountBook(self._conn)

    def _open_postgres(self, url: str) -> None:
        try:
            pg = PgConnection(url, connect_timeout_s=self._busy_timeout_s)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from None
        self.postgres = pg
        self.path = Path(pg.where)  # only named in messages; nothing opens it
        self.where = pg.where
        # The store's SQL runs on PostgreSQL through PgConnection, which offers the
        # methods of sqlite3.Connection the store uses (store_postgres.py).
        self._conn = cast(sqlite3.Connection, pg)
        try:
            with self.write():
                create_postgres_schema(pg)
        except sqlite3.Error as exc:
            raise StoreError(f"{pg.where} is not a usable verifier store: {exc}") from None
        self.log = LogStore(self._conn)
        self.accounts = AccountBook(self._conn)

    def _enable_wal(self, timeout_s: float) -> None:
        # Switching a new file to WAL needs an exclusive lock and SQLite does not wait
        # for it (no busy handler): workers starting together on a new store retry.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (journal mode is {mode})")
            return

    def _create_schema(self) -> None:
        try:
            with self.write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                row = self._conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                if row is not None:
                    check_schema_version(row[0], str(self.path))
                if row is None or row[0] == "1":
                    self._upgrade_quarantine()
                if row is None or row[0] != str(SCHEMA_VERSION):
                    for statement in _SCHEMA_V3:
                        self._conn.execute(statement)
                    # Schema 4: the transparency log (log_store.py); batches accepted
                    # before it existed become its first entries, in acceptance order.
                    for statement in LOG_SCHEMA:
                        self._conn.execute(statement)
                    backfill(self._conn, _entry_of_payload)
                    # Schema 5: completeness accounts (accounts_store.py), started from
                    # the readings stored so far.
                    create_accounts(self._conn, backfill=True)
                    self._conn.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a usable verifier store: {exc}") from None

    def _upgrade_quarantine(self) -> None:
        """Schema 1 -> 2 (a new store goes the same way): digest, count and budget columns."""
        conn = self._conn
        conn.create_function("edgeseal_sha256", 1, _sha256, deterministic=True)
        have = {r[1] for r in conn.execute("PRAGMA table_info(quarantine)")}
        for name, decl in _QUARANTINE_COLUMNS_V2:
            if name not in have:
                conn.execute(f"ALTER TABLE quarantine ADD COLUMN {name} {decl}")
        # Rows of schema 1 kept every payload whole; each is its own row (no merging).
        conn.execute(
            "UPDATE quarantine SET payload_len = length(payload), last_received_us = received_us,"
            " budget = COALESCE(gateway_id, ''),"
            " stored_bytes = length(payload) + length(CAST(detail AS BLOB))"
            f" + length(CAST(topic AS BLOB)) + {QUARANTINE_ROW_OVERHEAD},"
            " payload_sha256 = edgeseal_sha256(payload) WHERE payload_sha256 IS NULL"
        )
        for statement in _SCHEMA_V2:
            conn.execute(statement)
        conn.execute("DELETE FROM quarantine_usage")
        conn.execute(
            "INSERT INTO quarantine_usage (budget, stored_bytes)"
            " SELECT budget, SUM(stored_bytes) FROM quarantine GROUP BY budget"
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VerifierStore:  # noqa: PYI034 - final class in practice
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, gateway_ids: Iterable[str] | None = None) -> AbstractContextManager[None]:
        """A write transaction that holds the store's write lock from its first statement.

        Committed when the block returns; rolled back when it raises or when COMMIT
        fails, so a failed group leaves nothing behind and releases the lock.

        ``gateway_ids``: the only gateways whose chains the block touches (accepts, holds,
        accounts). On PostgreSQL the block then locks just those gateways and writers of
        other gateways run at the same time (store_postgres.py, "Locking"); without it
        the block runs alone. SQLite's BEGIN IMMEDIATE always runs it alone.
        """
        if self.postgres is not None:
            ids = None if gateway_ids is None else tuple(gateway_ids)
            return self._write_postgres(ids)
        return write_transaction(self._conn, begin=self._begin_immediate)

    @contextmanager
    def _write_postgres(self, gateway_ids: tuple[str, ...] | None) -> Iterator[None]:
        pg = self.postgres
        assert pg is not None
        # Alone (gateway_ids None): the log is appended to at once, as on SQLite.
        # Beside other writers: the log's entries wait for the end of the block.
        self._log_locked = gateway_ids is None
        self._log_deferred = None if gateway_ids is None else []
        try:
            with write_transaction(self._conn, begin=lambda _c: begin_locked(pg, gateway_ids)):
                yield
                self._append_deferred_log()
        finally:
            self._log_deferred = None
            self._log_locked = False

    def _lock_log(self) -> None:
        """Inside a PostgreSQL write for given gateways: take the log lock (to COMMIT)
        before touching the log or rows shared by all gateways."""
        # (Alone, on SQLite or outside write(): nothing to take, or nothing to hold it.)
        if self.postgres is not None and self._log_deferred is not None and not self._log_locked:
            lock_log(self.postgres)
            self._log_locked = True

    def _append_deferred_log(self) -> None:
        """The log's entries of this block's accepted batches, at the next indexes, under
        the log lock held to COMMIT: indexes stay gap-free and in commit order."""
        entries = self._log_deferred
        if not entries:
            return
        self._lock_log()
        self.log.append_entries(entries)

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting up to busy_timeout_s for another worker's write lock.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ... ms between attempts, while
        another worker holds the lock for well under a millisecond per batch: two workers
        would spend most of their time asleep. So the handler is off for this one
        statement and the retries below sleep 50 us at first, doubling up to 2 ms.
        """
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            delay, deadline = 50e-6, time.monotonic() + self._busy_timeout_s
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() >= deadline:
                        raise
                time.sleep(delay)
                delay = min(2 * delay, 0.002)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    # -- chain state -----------------------------------------------------------------

    def chain_state(self, gateway_id: str, enrolled_key: bytes) -> ChainState:
        row = self._conn.execute(
            "SELECT head_seq, head_hash, public_key FROM chain_heads WHERE gateway_id = ?",
            (gateway_id,),
        ).fetchone()
        if row is None:
            return ChainState.initial(gateway_id, enrolled_key)
        return ChainState(gateway_id, row[0], bytes(row[1]), bytes(row[2]))

    def accepted_at(self, gateway_id: str, seq: int) -> tuple[bytes, bytes] | None:
        """(header hash, public key) of the batch accepted at ``seq``, if any."""
        row = self._conn.execute(
            "SELECT header_hash, public_key FROM batches WHERE gateway_id = ? AND seq = ?",
            (gateway_id, seq),
        ).fetchone()
        return (bytes(row[0]), bytes(row[1])) if row else None

    def is_accepted(self, header_hash: bytes) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM batches WHERE header_hash = ?", (header_hash,)
        ).fetchone()
        return row is not None

    def accepted_payload(self, header_hash: bytes) -> bytes | None:
        """The payload of the accepted batch with this header hash, as received; None if none."""
        row = self._conn.execute(
            "SELECT payload FROM batches WHERE header_hash = ?", (header_hash,)
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    # -- writes (call inside write()) ------------------------------------------------

    def accept(
        self,
        *,
        state: ChainState,
        sealed: SealedBatch,
        records: RecordColumns,
        public_key: bytes,
        payload: bytes,
        worker: str,
        leaf_indices: Sequence[int] | None = None,
    ) -> int:
        """Store an accepted batch and its readings and advance the chain head.

        ``leaf_indices``: the leaf of each reading when the batch also holds events
        (None: reading i is leaf i).

        Raises ReplayDetected (with nothing written) if any reading was accepted before.
        """
        header = sealed.header
        header_hash = sealed.hash
        conn = self._conn
        conn.execute("SAVEPOINT accept_batch")
        try:
            cursor = conn.execute(
                "INSERT INTO batches (gateway_id, seq, header_hash, public_key, next_public_key,"
                " root, count, first_time_us, last_time_us, payload, accepted_us, worker)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    header.gateway_id,
                    header.seq,
                    header_hash,
                    public_key,
                    header.next_public_key,
                    header.root,
                    header.count,
                    to_i64(header.first_time_us),
                    to_i64(header.last_time_us),
                    payload,
                    now_us(),
                    worker,
                ),
            )
            batch_id = cursor.lastrowid
            assert batch_id is not None
            # Rows zipped from the decoded columns: no Python code runs per reading.
            r = records
            insert = conn.executemany if self.postgres is None else self._copy_readings
            insert(
                _INSERT_READING,
                zip(
                    r.gateway_id,
                    r.device_id,
                    r.device_seq,
                    r.boot_id,
                    r.channel,
                    r.unit,
                    r.mantissa,
                    r.exponent,
                    r.time_kind,
                    to_i64_column(r.device_time_ms),
                    to_i64_column(r.gateway_time_us),
                    repeat(batch_id),
                    count() if leaf_indices is None else leaf_indices,
                ),
            )
        except sqlite3.IntegrityError:
            # (PostgreSQL: the savepoint also ends the transaction's aborted state.)
            conn.execute("ROLLBACK TO accept_batch")
            conn.execute("RELEASE accept_batch")
            indices, batch_ids = self._already_accepted(records)
            if not indices:
                raise
            raise ReplayDetected(indices, batch_ids) from None
        conn.execute("RELEASE accept_batch")
        # In the same transaction: an accepted batch is always in the log, and only then.
        if self._log_entries:
            entry = log_entry(sealed.header_bytes, sealed.header_signature)
            if self._log_deferred is not None:
                self._log_deferred.append((batch_id, header_hash, entry))
            else:
                self.log.append_entry(batch_id, header_hash, entry)
        next_key = header.next_public_key if header.next_public_key is not None else public_key
        conn.execute(
            "INSERT INTO chain_heads (gateway_id, head_seq, head_hash, public_key, updated_us)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (gateway_id) DO UPDATE SET head_seq = excluded.head_seq,"
            " head_hash = excluded.head_hash, public_key = excluded.public_key,"
            " updated_us = excluded.updated_us",
            (header.gateway_id, header.seq, header_hash, next_key, now_us()),
        )
        conn.execute("DELETE FROM pending WHERE header_hash = ?", (header_hash,))
        return batch_id

    def _copy_readings(self, _sql: str, rows: Iterable[Sequence[object]]) -> None:
        assert self.postgres is not None
        self.postgres.copy_rows("readings", _READING_COLUMNS, _READING_TYPES, rows)

    def _already_accepted(self, records: RecordColumns) -> tuple[list[int], list[int]]:
        indices: list[int] = []
        batch_ids: set[int] = set()
        identities = zip(records.gateway_id, records.device_id, records.device_seq, records.boot_id)
        for i, identity in enumerate(identities):
            row = self._conn.execute(
                "SELECT batch_id FROM readings WHERE gateway_id = ? AND device_id = ?"
                " AND device_seq = ? AND boot_id = ?",
                identity,
            ).fetchone()
            if row is not None:
                indices.append(i)
                batch_ids.add(row[0])
        return indices, sorted(batch_ids)

    def hold(
        self,
        *,
        sealed: SealedBatch,
        topic: str,
        payload: bytes,
        verified_key: bytes | None,
        worker: str,
    ) -> bool:
        """Keep a batch that is ahead of its chain; False if it was already held."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO pending (header_hash, gateway_id, seq, topic, payload,"
            " verified_key, received_us, worker) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sealed.hash,
                sealed.header.gateway_id,
                sealed.header.seq,
                topic,
                payload,
                verified_key,
                now_us(),
                worker,
            ),
        )
        return cursor.rowcount == 1

    def quarantine(
        self,
        *,
        gateway_id: str | None,
        seq: int | None,
        header_hash: bytes | None,
        reason: str,
        detail: str,
        topic: str,
        payload: bytes,
        worker: str,
        keep_payload: bool,
        budget: str,
        limits: StoreLimits,
    ) -> QuarantineResult:
        """Record a refused batch (call inside write()); what is kept follows limits.py.

        ``keep_payload``: the payload's signatures verified, so it may be kept whole (up
        to ``limits.quarantine_payload_bytes``); ``budget``: whose quarantine bytes the
        row counts against (the gateway id if enrolled, else ``""``).
        """
        # Budgets and their counters are shared (all unenrolled ids share one, and the
        # total is over every gateway): beside other writers, under the log lock.
        self._lock_log()
        if header_hash is not None:
            self._conn.execute("DELETE FROM pending WHERE header_hash = ?", (header_hash,))
        digest = _sha256(payload)
        received = now_us()
        row = self._conn.execute(
            "SELECT quarantine_id FROM quarantine WHERE payload_sha256 = ? AND reason = ?"
            " AND budget = ? ORDER BY quarantine_id LIMIT 1",
            (digest, reason, budget),
        ).fetchone()
        if row is not None:
            self._conn.execute(
                "UPDATE quarantine SET times_seen = times_seen + 1, last_received_us = ?"
                " WHERE quarantine_id = ?",
                (received, row[0]),
            )
            return QuarantineResult(row[0], repeat=True)
        whole = keep_payload and len(payload) <= limits.quarantine_payload_bytes
        kept = payload if whole else payload[:QUARANTINE_PREFIX_BYTES]
        size = (
            len(kept)
            + len(detail.encode("utf-8", "replace"))
            + len(topic.encode("utf-8", "replace"))
            + QUARANTINE_ROW_OVERHEAD
        )
        used = dict(self._conn.execute("SELECT budget, stored_bytes FROM quarantine_usage"))
        full = None
        if used.get(budget, 0) + size > limits.quarantine_bytes_per_gateway:
            full = f"quarantine_bytes_per_gateway = {limits.quarantine_bytes_per_gateway}"
        elif sum(used.values()) + size > limits.quarantine_bytes_total:
            full = f"quarantine_bytes_total = {limits.quarantine_bytes_total}"
        if full is not None:
            refused = self._conn.execute(
                "INSERT INTO quarantine_overflow (budget, reason, refused, payload_bytes,"
                " last_received_us) VALUES (?, ?, 1, ?, ?) ON CONFLICT (budget, reason) DO UPDATE"
                # Qualified: PostgreSQL reads a bare column here as ambiguous (row or excluded).
                " SET refused = quarantine_overflow.refused + 1,"
                " payload_bytes = quarantine_overflow.payload_bytes + excluded.payload_bytes,"
                " last_received_us = excluded.last_received_us RETURNING refused",
                (budget, reason, len(payload), received),
            ).fetchone()[0]
            return QuarantineResult(None, full=full, not_stored=refused)
        cursor = self._conn.execute(
            "INSERT INTO quarantine (gateway_id, seq, header_hash, reason, detail, topic, payload,"
            " received_us, worker, payload_sha256, payload_len, last_received_us, budget,"
            " stored_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                gateway_id,
                seq,
                header_hash,
                reason,
                detail,
                topic,
                kept,
                received,
                worker,
                digest,
                len(payload),
                received,
                budget,
                size,
            ),
        )
        assert cursor.lastrowid is not None
        return QuarantineResult(cursor.lastrowid, whole=whole)

    def record_loss(
        self,
        *,
        state: ChainState,
        last_seq: int,
        decided_by: str,
        reason: str,
        continued_by: bytes,
        claimed_prev_hash: bytes,
    ) -> int:
        """Record that seqs ``state.next_seq``..``last_seq`` are lost, and move the chain
        head over them (call inside write(), after checking that this is a real gap).

        The head becomes seq ``last_seq`` with the hash the held batch at ``last_seq + 1``
        claims for it, so that batch extends the chain and every other check applies to
        it unchanged; the key the chain expects does not change.
        """
        cursor = self._conn.execute(
            "INSERT INTO accepted_losses (gateway_id, first_seq, last_seq, decided_by, reason,"
            " decided_us, head_hash, continued_by, claimed_prev_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.gateway_id,
                state.next_seq,
                last_seq,
                decided_by,
                reason,
                now_us(),
                state.head_hash,
                continued_by,
                claimed_prev_hash,
            ),
        )
        self._conn.execute(
            "INSERT INTO chain_heads (gateway_id, head_seq, head_hash, public_key, updated_us)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (gateway_id) DO UPDATE SET head_seq = excluded.head_seq,"
            " head_hash = excluded.head_hash, updated_us = excluded.updated_us",
            (state.gateway_id, last_seq, claimed_prev_hash, state.public_key, now_us()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def accepted_losses(self, gateway_id: str | None = None) -> list[AcceptedLoss]:
        """Every recorded loss (of one gateway unless None), in the order decided."""
        rows = self._select_for_gateway(
            "SELECT loss_id, gateway_id, first_seq, last_seq, decided_by, reason, decided_us,"
            " head_hash, continued_by, claimed_prev_hash FROM accepted_losses",
            gateway_id,
            " ORDER BY loss_id",
        )
        return [
            AcceptedLoss(
                loss_id=r[0],
                gateway_id=r[1],
                first_seq=r[2],
                last_seq=r[3],
                decided_by=r[4],
                reason=r[5],
                decided_us=r[6],
                head_hash=bytes(r[7]),
                continued_by=bytes(r[8]),
                claimed_prev_hash=bytes(r[9]),
            )
            for r in rows
        ]

    def loss_covering(self, gateway_id: str, seq: int) -> AcceptedLoss | None:
        """The recorded loss that covers ``seq`` of the gateway, if any."""
        for loss in self.accepted_losses(gateway_id):
            if loss.first_seq <= seq <= loss.last_seq:
                return loss
        return None

    # -- held batches ----------------------------------------------------------------

    def held_up_to(self, gateway_id: str, seq: int) -> list[HeldBatch]:
        """Held batches of a gateway with seq <= ``seq``, lowest seq first."""
        rows = self._conn.execute(
            "SELECT header_hash, gateway_id, seq, topic, payload, verified_key, received_us"
            " FROM pending WHERE gateway_id = ? AND seq <= ? ORDER BY seq, received_us",
            (gateway_id, seq),
        ).fetchall()
        return [
            HeldBatch(
                bytes(r[0]), r[1], r[2], r[3], bytes(r[4]), bytes(r[5]) if r[5] else None, r[6]
            )
            for r in rows
        ]

    def held_usage(self, gateway_id: str) -> tuple[int, int, int]:
        """(batches held for the gateway, their payload bytes, payload bytes held in all).

        Read to decide whether one more may be held: the total is over all gateways, so
        beside other writers this takes the log lock first (store_postgres.py)."""
        self._lock_log()
        count, size = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0) FROM pending WHERE gateway_id = ?",
            (gateway_id,),
        ).fetchone()
        total = self._conn.execute(
            "SELECT COALESCE(SUM(length(payload)), 0) FROM pending"
        ).fetchone()[0]
        return int(count), int(size), int(total)

    def held_announced_keys(self, gateway_id: str, before_seq: int) -> list[bytes]:
        """Keys announced (rotation) by verified held batches of the gateway before a seq."""
        rows = self._conn.execute(
            "SELECT payload FROM pending WHERE gateway_id = ? AND seq < ?"
            " AND verified_key IS NOT NULL ORDER BY seq",
            (gateway_id, before_seq),
        ).fetchall()
        keys = [SealedBatch.from_payload(bytes(r[0])).header.next_public_key for r in rows]
        return [k for k in keys if k is not None]

    def is_held(self, header_hash: bytes) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM pending WHERE header_hash = ?", (header_hash,)
        ).fetchone()
        return row is not None

    def gaps(self) -> list[Gap]:
        """Every gateway with held batches and the seq it is waiting for."""
        rows = self._conn.execute(
            "SELECT p.gateway_id, COALESCE(h.head_seq, 0) + 1, COUNT(*), GROUP_CONCAT(p.seq),"
            " MIN(p.received_us) FROM pending p LEFT JOIN chain_heads h USING (gateway_id)"
            " GROUP BY p.gateway_id, h.head_seq ORDER BY p.gateway_id"
        ).fetchall()
        return [
            Gap(r[0], r[1], r[2], tuple(sorted(int(s) for s in str(r[3]).split(","))), r[4])
            for r in rows
        ]

    # -- queries for receipts, operators and tests ----------------------------------

    def _select_for_gateway(
        self, select: str, gateway_id: str | None, order: str = ""
    ) -> list[Any]:
        """Rows of ``select``, only those of ``gateway_id`` unless it is None."""
        if gateway_id is None:
            return self._conn.execute(select + order).fetchall()
        return self._conn.execute(
            select + " WHERE gateway_id = ?" + order, (gateway_id,)
        ).fetchall()

    def find_readings(
        self, gateway_id: str, device_id: int, device_seq: int, boot_id: int | None = None
    ) -> list[StoredReading]:
        sql = (
            "SELECT gateway_id, device_id, device_seq, boot_id, gateway_time_us, batch_id, leaf_index"
            " FROM readings WHERE gateway_id = ? AND device_id = ? AND device_seq = ?"
        )
        params: tuple[object, ...] = (gateway_id, device_id, device_seq)
        if boot_id is not None:
            sql += " AND boot_id = ?"
            params += (boot_id,)
        rows = self._conn.execute(sql + " ORDER BY boot_id", params).fetchall()
        return [StoredReading(r[0], r[1], r[2], r[3], from_i64(r[4]), r[5], r[6]) for r in rows]

    def batch(self, batch_id: int) -> AcceptedBatch | None:
        row = self._conn.execute(
            "SELECT batch_id, gateway_id, seq, header_hash, public_key, payload FROM batches"
            " WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        if row is None:
            return None
        return AcceptedBatch(row[0], row[1], row[2], bytes(row[3]), bytes(row[4]), bytes(row[5]))

    def rotations_before(self, gateway_id: str, seq: int) -> list[bytes]:
        """Payloads of the accepted batches before ``seq`` that announced a new key, in order."""
        rows = self._conn.execute(
            "SELECT payload FROM batches WHERE gateway_id = ? AND seq < ?"
            " AND next_public_key IS NOT NULL ORDER BY seq",
            (gateway_id, seq),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def accepted_batches(self, gateway_id: str | None = None) -> list[tuple[str, int, bytes]]:
        """(gateway, seq, header hash) of every accepted batch, in chain order."""
        rows = self._select_for_gateway(
            "SELECT gateway_id, seq, header_hash FROM batches",
            gateway_id,
            " ORDER BY gateway_id, seq",
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def chain_heads(self) -> list[tuple[str, int, bytes]]:
        """(gateway, head seq, head hash) of every gateway with an accepted batch."""
        rows = self._conn.execute(
            "SELECT gateway_id, head_seq, head_hash FROM chain_heads ORDER BY gateway_id"
        ).fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def quarantine_counts(self) -> list[tuple[str | None, str, int]]:
        """(gateway or None, reason, how many refusals) over the whole quarantine, with
        repeats and refusals not stored because the budget was full (budget ``""``, all
        unenrolled gateways, is reported as None)."""
        rows = self._conn.execute(
            "SELECT gw, reason, SUM(n) FROM ("
            " SELECT gateway_id AS gw, reason, times_seen AS n FROM quarantine"
            " UNION ALL SELECT NULLIF(budget, ''), reason, refused FROM quarantine_overflow) AS q"
            " GROUP BY gw, reason ORDER BY gw, reason"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def quarantine_bytes(self) -> dict[str, int]:
        """Bytes the quarantine holds per budget (gateway id; ``""``: unenrolled ids)."""
        rows = self._conn.execute("SELECT budget, stored_bytes FROM quarantine_usage").fetchall()
        return {r[0]: r[1] for r in rows}

    def reading_keys(self, gateway_id: str) -> set[tuple[int, int, int]]:
        """(device_id, boot_id, device_seq) of every accepted reading of a gateway."""
        rows = self._conn.execute(
            "SELECT device_id, boot_id, device_seq FROM readings WHERE gateway_id = ?",
            (gateway_id,),
        ).fetchall()
        return {(r[0], r[1], r[2]) for r in rows}

    def reading_count(self, gateway_id: str | None = None) -> int:
        return int(self._select_for_gateway("SELECT COUNT(*) FROM readings", gateway_id)[0][0])

    def quarantined(self, gateway_id: str | None = None) -> list[QuarantinedBatch]:
        sql = (
            "SELECT quarantine_id, gateway_id, seq, header_hash, reason, detail, topic, payload,"
            " received_us, worker, payload_len, payload_sha256, times_seen FROM quarantine"
        )
        rows = self._select_for_gateway(sql, gateway_id, " ORDER BY quarantine_id")
        return [
            QuarantinedBatch(
                quarantine_id=r[0],
                gateway_id=r[1],
                seq=r[2],
                header_hash=bytes(r[3]) if r[3] is not None else None,
                reason=r[4],
                detail=r[5],
                topic=r[6],
                payload=bytes(r[7]),
                received_us=r[8],
                worker=r[9],
                payload_len=r[10],
                payload_sha256=bytes(r[11]),
                times_seen=r[12],
            )
            for r in rows
        ]
