"""Completeness accounts (schema 5): per gateway, device and boot, every seq is a stored
reading, inside a signed loss notice, or an unexplained gap.

An account covers seqs 1 .. ``high_seq`` (every boot numbers its readings from 1;
``high_seq`` is the highest seq a stored reading or a loss notice reached). What is
not covered inside that range is kept as holes (``account_holes``), each with the
batch seq at which the chain first passed it. A later reading or notice may still
fill a hole (e.g. a device's resend in a later batch); once the chain is
``gap_margin_batches`` past it, the hole is an *unexplained gap*: reported once
(verdict, metric, log) and kept until something fills it.

Everything here runs inside the store's write transaction, on its connection.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edgeseal.verifier.accounts import BootAccount, account_for
from edgeseal.wire.event import (
    AgentStart,
    AgentStop,
    Backpressure,
    DeviceBoot,
    EventRecord,
    ReadingsLost,
)
from edgeseal.wire.record import RecordColumns

ACCOUNTS_SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS device_events ("
        " event_id INTEGER PRIMARY KEY,"
        " gateway_id TEXT NOT NULL,"
        " batch_id INTEGER NOT NULL REFERENCES batches (batch_id),"
        " leaf_index INTEGER NOT NULL,"
        " kind TEXT NOT NULL,"  # device_boot, readings_lost, backpressure, agent_start, agent_stop
        " device_id INTEGER, boot_id INTEGER,"
        " first_seq INTEGER, last_seq INTEGER,"  # boot: first_seq only; loss: the range
        " reason TEXT,"  # loss: device_overflow, rebooted, link_down, gateway_policy
        " detail TEXT NOT NULL DEFAULT '',"  # firmware version, back-pressure detail, version
        " gateway_time_us INTEGER NOT NULL)"
    ),
    "CREATE INDEX IF NOT EXISTS device_events_by_boot ON device_events (gateway_id, device_id, boot_id)",
    (
        "CREATE TABLE IF NOT EXISTS accounts ("
        " gateway_id TEXT NOT NULL, device_id INTEGER NOT NULL, boot_id INTEGER NOT NULL,"
        " announced INTEGER NOT NULL,"  # 1 once a boot event for it was accepted
        " first_seq INTEGER,"  # the smallest first_seq its boot events announced
        " firmware TEXT NOT NULL DEFAULT '',"
        " high_seq INTEGER NOT NULL,"  # highest seq covered (stored or declared lost)
        " stored INTEGER NOT NULL,"  # readings stored
        " lost INTEGER NOT NULL,"  # seqs first covered by a loss notice
        " updated_us INTEGER NOT NULL,"
        " PRIMARY KEY (gateway_id, device_id, boot_id)) WITHOUT ROWID"
    ),
    (
        "CREATE TABLE IF NOT EXISTS account_holes ("
        " gateway_id TEXT NOT NULL, device_id INTEGER NOT NULL, boot_id INTEGER NOT NULL,"
        " first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
        " seen_at_seq INTEGER NOT NULL,"  # the batch seq that first went past it
        " reported_us INTEGER,"  # when it was reported as an unexplained gap
        " PRIMARY KEY (gateway_id, device_id, boot_id, first_seq)) WITHOUT ROWID"
    ),
    "CREATE INDEX IF NOT EXISTS account_holes_due ON account_holes (gateway_id, seen_at_seq)",
)

# Stores that had readings before schema 5: their accounts start from what is stored
# (holes found now are due at once: nothing signed explains them).
ACCOUNTS_BACKFILL = (
    (
        "INSERT OR IGNORE INTO accounts (gateway_id, device_id, boot_id, announced, first_seq,"
        " firmware, high_seq, stored, lost, updated_us)"
        " SELECT gateway_id, device_id, boot_id, 0, NULL, '', MAX(device_seq), COUNT(*), 0, ?"
        " FROM readings GROUP BY gateway_id, device_id, boot_id"
    ),
    (
        "INSERT OR IGNORE INTO account_holes (gateway_id, device_id, boot_id, first_seq,"
        " last_seq, seen_at_seq, reported_us)"
        " SELECT gateway_id, device_id, boot_id, prev + 1, device_seq - 1, 0, NULL FROM ("
        "  SELECT gateway_id, device_id, boot_id, device_seq, COALESCE(LAG(device_seq) OVER ("
        "   PARTITION BY gateway_id, device_id, boot_id ORDER BY device_seq), 0) AS prev"
        "  FROM readings) WHERE device_seq > prev + 1"
    ),
)


def create_accounts(conn: sqlite3.Connection, *, backfill: bool) -> None:
    """Create the schema 5 tables; ``backfill``: start accounts from stored readings."""
    for statement in ACCOUNTS_SCHEMA:
        conn.execute(statement)
    if backfill:
        conn.execute(ACCOUNTS_BACKFILL[0], (time.time_ns() // 1000,))
        conn.execute(ACCOUNTS_BACKFILL[1])


@dataclass(frozen=True)
class GapFound:
    """An unexplained gap, reported once the chain passed it by the margin."""

    gateway_id: str
    device_id: int
    boot_id: int
    first_seq: int
    last_seq: int
    seen_at_seq: int

    def as_dict(self) -> dict[str, int | str]:
        return {
            "gateway_id": self.gateway_id,
            "device_id": self.device_id,
            "boot_id": self.boot_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }

    def describe(self) -> str:
        span = (
            f"seq {self.first_seq}"
            if self.first_seq == self.last_seq
            else f"seqs {self.first_seq}..{self.last_seq}"
        )
        return (
            f"gateway {self.gateway_id} device {self.device_id} boot {self.boot_id}: {span} "
            f"neither stored nor covered by a signed loss notice (passed at batch "
            f"{self.seen_at_seq})"
        )


_KIND_NAMES = {
    1: "device_boot",
    2: "readings_lost",
    3: "backpressure",
    4: "agent_start",
    5: "agent_stop",
}

_Key = tuple[int, int]  # (device_id, boot_id)


def _runs(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct seqs -> inclusive runs of consecutive seqs."""
    if not seqs:
        return []
    if seqs[-1] - seqs[0] + 1 == len(seqs):  # the usual case: one contiguous run
        return [(seqs[0], seqs[-1])]
    runs: list[tuple[int, int]] = []
    for _, group in itertools.groupby(enumerate(seqs), key=lambda p: p[1] - p[0]):
        items = list(group)
        runs.append((items[0][1], items[-1][1]))
    return runs


def readings_by_boot(records: RecordColumns) -> dict[_Key, list[int]]:
    """Sorted seqs of a batch's readings per (device, boot)."""
    if not len(records):
        return {}
    devices, boots = records.device_id, records.boot_id
    if devices.count(devices[0]) == len(devices) and boots.count(boots[0]) == len(boots):
        return {(devices[0], boots[0]): sorted(records.device_seq)}
    grouped: dict[_Key, list[int]] = {}
    for key, seq in zip(zip(devices, boots), records.device_seq):
        grouped.setdefault(key, []).append(seq)
    for seqs in grouped.values():
        seqs.sort()
    return grouped


class AccountBook:
    """The accounts of one store, on its connection (call inside ``store.write()``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # check_events and apply group the same batch's readings: once is enough
        self._grouped: tuple[RecordColumns, dict[_Key, list[int]]] | None = None

    def _by_boot(self, records: RecordColumns) -> dict[_Key, list[int]]:
        if self._grouped is None or self._grouped[0] is not records:
            self._grouped = (records, readings_by_boot(records))
        return self._grouped[1]

    def _known(self, gateway_id: str, key: _Key) -> bool:
        """A boot event announced it, or readings of it are stored."""
        row = self._conn.execute(
            "SELECT 1 FROM accounts WHERE gateway_id = ? AND device_id = ? AND boot_id = ?"
            " AND (announced = 1 OR stored > 0)",
            (gateway_id, *key),
        ).fetchone()
        return row is not None

    def check_events(
        self,
        gateway_id: str,
        records: RecordColumns,
        events: Sequence[tuple[int, EventRecord]],
    ) -> list[str]:
        """Why the batch's events cannot be accepted, one message each (empty: fine).

        A loss notice must name a boot the verifier knows: one a boot event announced or
        with readings stored, earlier in the chain or in this batch. It may not cover a
        reading that is stored or in this batch: a device cannot have lost what the
        gateway delivered.
        """
        problems: list[str] = []
        batch_seqs = self._by_boot(records)
        known_here = set(batch_seqs) | {
            (e.body.device_id, e.body.boot_id) for _, e in events if isinstance(e.body, DeviceBoot)
        }
        for leaf, event in events:
            body = event.body
            if not isinstance(body, ReadingsLost):
                continue
            key = (body.device_id, body.boot_id)
            what = (
                f"loss notice at leaf {leaf} (device {body.device_id} boot {body.boot_id}, "
                f"seqs {body.first_seq}..{body.last_seq}, {body.reason.label})"
            )
            if key not in known_here and not self._known(gateway_id, key):
                problems.append(
                    f"{what} names a boot neither a boot event nor a stored reading makes known "
                    "(unknown boot)"
                )
                continue
            rows = self._conn.execute(
                "SELECT device_seq FROM readings WHERE gateway_id = ? AND device_id = ?"
                " AND device_seq BETWEEN ? AND ? AND boot_id = ? ORDER BY device_seq LIMIT 5",
                (gateway_id, body.device_id, body.first_seq, body.last_seq, body.boot_id),
            ).fetchall()
            stored = [int(r[0]) for r in rows]
            here = [s for s in batch_seqs.get(key, ()) if body.first_seq <= s <= body.last_seq]
            if stored or here:
                listed = ", ".join(str(s) for s in sorted({*stored, *here})[:5])
                problems.append(
                    f"{what} overlaps readings that are stored or in this batch: {listed}"
                )
        return problems

    def apply(
        self,
        *,
        gateway_id: str,
        batch_id: int,
        batch_seq: int,
        records: RecordColumns,
        events: Sequence[tuple[int, EventRecord]],
    ) -> None:
        """Record the events of an accepted batch and move its accounts forward."""
        now = time.time_ns() // 1000
        coverage: dict[_Key, list[tuple[int, int, bool]]] = {}  # (first, last, is_loss)
        for key, seqs in self._by_boot(records).items():
            coverage[key] = [(a, b, False) for a, b in _runs(seqs)]
        boots: list[DeviceBoot] = []
        rows = []
        for leaf, event in events:
            body = event.body
            device = boot = first = last = None
            reason: str | None = None
            detail = ""
            match body:
                case DeviceBoot():
                    device, boot, first = body.device_id, body.boot_id, body.first_seq
                    detail = body.firmware_version
                    boots.append(body)
                case ReadingsLost():
                    device, boot = body.device_id, body.boot_id
                    first, last = body.first_seq, body.last_seq
                    reason = body.reason.label
                    coverage.setdefault((device, boot), []).append((first, last, True))
                case Backpressure():
                    reason, detail = ("on" if body.on else "off"), body.detail
                case AgentStart():
                    detail = body.version
                case AgentStop():
                    detail = body.detail
            rows.append(
                (
                    gateway_id,
                    batch_id,
                    leaf,
                    _KIND_NAMES[event.kind.value],
                    device,
                    boot,
                    first,
                    last,
                    reason,
                    detail,
                    to_i64(event.gateway_time_us),
                )
            )
        if rows:
            self._conn.executemany(
                "INSERT INTO device_events (gateway_id, batch_id, leaf_index, kind, device_id,"
                " boot_id, first_seq, last_seq, reason, detail, gateway_time_us)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        for body in boots:
            self._announce(gateway_id, body, now)
        if not coverage:
            return
        # One query for every account the batch moves and one statement to write them:
        # a batch usually names a few devices, and this runs for every batch.
        keys = list(coverage)
        current = {
            (int(d), int(b)): (int(h), int(st), int(lo))
            for d, b, h, st, lo in self._conn.execute(
                "SELECT device_id, boot_id, high_seq, stored, lost FROM accounts"
                " WHERE gateway_id = ? AND (device_id, boot_id) IN (VALUES "
                + ", ".join("(?, ?)" for _ in keys)
                + ")",
                [gateway_id, *itertools.chain.from_iterable(keys)],
            )
        }
        updates = [
            (
                gateway_id,
                *key,
                *self._cover(
                    gateway_id,
                    key,
                    sorted(ranges),
                    batch_seq,
                    current.get(key, (0, 0, 0)),
                ),
                now,
            )
            for key, ranges in coverage.items()
        ]
        self._conn.executemany(
            "INSERT INTO accounts (gateway_id, device_id, boot_id, announced, first_seq,"
            " firmware, high_seq, stored, lost, updated_us) VALUES (?, ?, ?, 0, NULL, '', ?, ?, ?, ?)"
            " ON CONFLICT (gateway_id, device_id, boot_id) DO UPDATE SET"
            " high_seq = excluded.high_seq, stored = excluded.stored, lost = excluded.lost,"
            " updated_us = excluded.updated_us",
            updates,
        )

    def _announce(self, gateway_id: str, body: DeviceBoot, now: int) -> None:
        self._conn.execute(
            "INSERT INTO accounts (gateway_id, device_id, boot_id, announced, first_seq,"
            " firmware, high_seq, stored, lost, updated_us) VALUES (?, ?, ?, 1, ?, ?, 0, 0, 0, ?)"
            # Columns qualified and no two-argument MIN(): PostgreSQL reads an unqualified
            # column here as ambiguous (existing row or excluded) and has no scalar MIN.
            " ON CONFLICT (gateway_id, device_id, boot_id) DO UPDATE SET announced = 1,"
            " first_seq = CASE WHEN accounts.first_seq IS NULL"
            " OR excluded.first_seq < accounts.first_seq THEN excluded.first_seq"
            " ELSE accounts.first_seq END,"
            " firmware = CASE WHEN excluded.firmware != '' THEN excluded.firmware"
            " ELSE accounts.firmware END, updated_us = excluded.updated_us",
            (gateway_id, body.device_id, body.boot_id, body.first_seq, body.firmware_version, now),
        )

    def _cover(
        self,
        gateway_id: str,
        key: _Key,
        ranges: list[tuple[int, int, bool]],
        batch_seq: int,
        account: tuple[int, int, int],
    ) -> tuple[int, int, int]:
        """Cover ``ranges`` in one account (high_seq, stored, lost); its new values."""
        conn = self._conn
        ident = (gateway_id, *key)
        high, stored, lost = account
        for first, last, is_loss in ranges:
            newly = 0
            if first <= high:
                newly += self._fill(ident, first, min(last, high))
            if last > high:
                start = max(first, high + 1)
                if start > high + 1:
                    conn.execute(
                        "INSERT INTO account_holes (gateway_id, device_id, boot_id, first_seq,"
                        " last_seq, seen_at_seq) VALUES (?, ?, ?, ?, ?, ?)",
                        (*ident, high + 1, start - 1, batch_seq),
                    )
                newly += last - start + 1
                high = last
            if is_loss:
                lost += newly
            else:
                stored += last - first + 1
        return high, stored, lost

    def _fill(self, ident: tuple[str, int, int], first: int, last: int) -> int:
        """Remove ``first..last`` from the account's holes; how many seqs it filled."""
        conn = self._conn
        holes = conn.execute(
            "SELECT first_seq, last_seq, seen_at_seq, reported_us FROM account_holes"
            " WHERE gateway_id = ? AND device_id = ? AND boot_id = ?"
            " AND first_seq <= ? AND last_seq >= ?",
            (*ident, last, first),
        ).fetchall()
        filled = 0
        for h_first, h_last, seen, reported in holes:
            conn.execute(
                "DELETE FROM account_holes WHERE gateway_id = ? AND device_id = ?"
                " AND boot_id = ? AND first_seq = ?",
                (*ident, h_first),
            )
            filled += min(h_last, last) - max(h_first, first) + 1
            for a, b in ((h_first, first - 1), (last + 1, h_last)):
                if a <= b:
                    conn.execute(
                        "INSERT INTO account_holes (gateway_id, device_id, boot_id, first_seq,"
                        " last_seq, seen_at_seq, reported_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*ident, a, b, seen, reported),
                    )
        return filled

    def account(self, gateway_id: str, device_id: int, boot_id: int) -> BootAccount | None:
        """The account of one device boot, as ``accounts.account_for`` reads it."""
        return account_for(self._conn, gateway_id, device_id, boot_id)

    def due_gaps(self, gateway_id: str, head_seq: int, margin: int) -> list[GapFound]:
        """Holes the chain has passed by ``margin`` batches and that were not reported yet;
        marks them reported."""
        rows = self._conn.execute(
            "SELECT device_id, boot_id, first_seq, last_seq, seen_at_seq FROM account_holes"
            " WHERE gateway_id = ? AND seen_at_seq <= ? AND reported_us IS NULL"
            " ORDER BY device_id, boot_id, first_seq",
            (gateway_id, head_seq - margin),
        ).fetchall()
        if not rows:
            return []
        self._conn.execute(
            "UPDATE account_holes SET reported_us = ? WHERE gateway_id = ?"
            " AND seen_at_seq <= ? AND reported_us IS NULL",
            (time.time_ns() // 1000, gateway_id, head_seq - margin),
        )
        return [GapFound(gateway_id, *map(int, r)) for r in rows]


def to_i64(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value
