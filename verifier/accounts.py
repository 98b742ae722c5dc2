"""Read side of the completeness accounts: per gateway, device and boot, what is stored,
what was declared lost and why, and what nothing explains (accounts_store.py writes them).

Plain dataclasses, read with one connection; used by ``edgeseal completeness``,
receipts and the HTTP API.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class AccountStatus(str, Enum):
    COMPLETE = "complete"  # every seq 1..last_seq is stored or covered by a loss notice
    OPEN = "open"  # holes the chain has not passed by the margin yet (may still fill)
    INCOMPLETE = "incomplete"  # unexplained gaps: nothing signed accounts for them


@dataclass(frozen=True)
class LostReadings:
    reason: str  # device_overflow, rebooted, link_down, gateway_policy
    readings: int  # seqs named by the notices of this reason (overlaps counted again)
    notices: int


@dataclass(frozen=True)
class AccountGap:
    first_seq: int
    last_seq: int
    seen_at_batch: int  # the batch seq at which the chain first passed it
    reported: bool  # True: past the margin, an unexplained gap

    @property
    def readings(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class BootAccount:
    gateway_id: str
    device_id: int
    boot_id: int
    announced: bool  # a signed boot event names this boot
    announced_first_seq: int | None  # the oldest seq the device held when it announced
    firmware_version: str
    last_seq: int  # highest seq covered by a stored reading or a loss notice
    stored: int
    lost: int  # seqs covered by loss notices only
    lost_by_reason: tuple[LostReadings, ...]
    gaps: tuple[AccountGap, ...]  # unexplained (reported) and not yet due
    updated_us: int

    @property
    def unexplained(self) -> tuple[AccountGap, ...]:
        return tuple(g for g in self.gaps if g.reported)

    @property
    def status(self) -> AccountStatus:
        if any(g.reported for g in self.gaps):
            return AccountStatus.INCOMPLETE
        return AccountStatus.OPEN if self.gaps else AccountStatus.COMPLETE

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["status"] = self.status.value
        body["unexplained_readings"] = sum(g.readings for g in self.unexplained)
        return body


def _has_accounts(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'accounts'"
    ).fetchone()
    return row is not None


def list_accounts(
    conn: sqlite3.Connection,
    *,
    gateway_id: str | None = None,
    device_id: int | None = None,
    boot_id: int | None = None,
    since_us: int | None = None,
) -> list[BootAccount]:
    """The accounts matching every filter given, ordered by gateway, device, boot.

    ``since_us``: only accounts changed at or after that time (UNIX microseconds).
    A store without accounts (schema < 5, opened read-only) has none.
    """
    if not _has_accounts(conn):
        return []
    where, params = ["1 = 1"], []
    for column, value in (
        ("gateway_id", gateway_id),
        ("device_id", device_id),
        ("boot_id", boot_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since_us is not None:
        where.append("updated_us >= ?")
        params.append(since_us)
    rows = conn.execute(
        "SELECT gateway_id, device_id, boot_id, announced, first_seq, firmware, high_seq,"
        " stored, lost, updated_us FROM accounts WHERE "
        + " AND ".join(where)
        + " ORDER BY gateway_id, device_id, boot_id",
        params,
    ).fetchall()
    return [_account(conn, row) for row in rows]


def account_for(
    conn: sqlite3.Connection, gateway_id: str, device_id: int, boot_id: int
) -> BootAccount | None:
    found = list_accounts(conn, gateway_id=gateway_id, device_id=device_id, boot_id=boot_id)
    return found[0] if found else None


def _account(conn: sqlite3.Connection, row: tuple[Any, ...]) -> BootAccount:
    gateway_id, device_id, boot_id = row[0], int(row[1]), int(row[2])
    ident = (gateway_id, device_id, boot_id)
    lost = conn.execute(
        "SELECT reason, SUM(last_seq - first_seq + 1), COUNT(*) FROM device_events"
        " WHERE gateway_id = ? AND device_id = ? AND boot_id = ? AND kind = 'readings_lost'"
        " GROUP BY reason ORDER BY reason",
        ident,
    ).fetchall()
    gaps = conn.execute(
        "SELECT first_seq, last_seq, seen_at_seq, reported_us IS NOT NULL FROM account_holes"
        " WHERE gateway_id = ? AND device_id = ? AND boot_id = ? ORDER BY first_seq",
        ident,
    ).fetchall()
    return BootAccount(
        gateway_id=gateway_id,
        device_id=device_id,
        boot_id=boot_id,
        announced=bool(row[3]),
        announced_first_seq=None if row[4] is None else int(row[4]),
        firmware_version=str(row[5]),
        last_seq=int(row[6]),
        stored=int(row[7]),
        lost=int(row[8]),
        lost_by_reason=tuple(LostReadings(str(r), int(n), int(c)) for r, n, c in lost),
        gaps=tuple(AccountGap(int(a), int(b), int(s), bool(rep)) for a, b, s, rep in gaps),
        updated_us=int(row[9]),
    )


def covered_seqs(
    conn: sqlite3.Connection, gateway_id: str, device_id: int, boot_id: int
) -> set[int]:
    """Every seq of the boot that a signed loss notice covers (for audits and tests)."""
    seqs: set[int] = set()
    for first, last in conn.execute(
        "SELECT first_seq, last_seq FROM device_events WHERE gateway_id = ? AND device_id = ?"
        " AND boot_id = ? AND kind = 'readings_lost'",
        (gateway_id, device_id, boot_id),
    ):
        seqs.update(range(int(first), int(last) + 1))
    return seqs


def receipt_part(account: BootAccount | None) -> dict[str, Any]:
    """What a receipt says of its reading's device and boot (informational: the
    verifier's account when the receipt was written; not signed, not checked)."""
    if account is None:
        return {"status": "unknown"}
    return {
        "status": account.status.value,
        "complete": account.status is AccountStatus.COMPLETE,
        "last_seq": account.last_seq,
        "stored": account.stored,
        "lost": account.lost,
        "unexplained_gaps": [[g.first_seq, g.last_seq] for g in account.unexplained],
    }
