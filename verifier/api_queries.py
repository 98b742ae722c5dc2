"""Read-only questions the console's API asks of the verifier's store.

Each call opens its own read-only connection (``mode=ro``: SQLite refuses any write
through it), so the API cannot change the store, needs no lock against the workers,
and serves requests from many threads at once. Every query is bounded: by an index,
a LIMIT, or the newest rowids, so a request costs little even on a large store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from edgeseal.verifier.accounts import list_accounts
from edgeseal.verifier.store import from_i64
from edgeseal.verifier.store_postgres import connect_read_only, is_postgres_url, redacted

# A chain whose last batch is older than this, with nothing held, is "waiting".
LIVE_WITHIN_US = 30_000_000
# Throughput and readings/s look at most at this many of the newest batches.
RECENT_BATCHES = 20_000


class QueryError(LookupError):
    """The store cannot answer (missing, not a verifier store yet)."""


@dataclass(frozen=True)
class ReadingsPage:
    items: list[dict[str, Any]]
    next_after: str | None  # give as ``after`` for the next page; None: this was the last


def _cursor(row: tuple[int, int, int, int]) -> str:
    return ".".join(str(v) for v in row)


_CURSOR_RE = re.compile(r"-?[0-9]{1,19}(?:\.-?[0-9]{1,19}){3}")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def parse_cursor(text: str) -> tuple[int, int, int, int]:
    """The ``after`` of a readings page: four integers ``time.device.boot.seq``.

    Values beyond SQLite's 64-bit integers are clamped: no stored reading lies beyond
    them, so the page is the same.
    """
    if _CURSOR_RE.fullmatch(text) is None:
        raise ValueError(f"after={text!r} is not a cursor from a previous page")
    a, b, c, d = (min(max(int(p), _I64_MIN), _I64_MAX) for p in text.split("."))
    return a, b, c, d


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


class ApiQueries:
    def __init__(self, store_path: Path | str, *, busy_timeout_s: float = 5.0) -> None:
        """``store_path``: the SQLite file, or a PostgreSQL URL (store_postgres.py)."""
        self._url = store_path if isinstance(store_path, str) else ""
        if self._url and is_postgres_url(self._url):
            self.store_path: Path | str = redacted(self._url)
        else:
            self._url = ""
            self.store_path = Path(store_path)
            self._uri = f"file:{quote(str(self.store_path.absolute()))}?mode=ro"
        self._timeout = busy_timeout_s

    def _connect(self) -> sqlite3.Connection:
        if self._url:
            return connect_read_only(self._url, timeout_s=self._timeout)
        return sqlite3.connect(self._uri, uri=True, timeout=self._timeout)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._connect()
        except sqlite3.OperationalError as exc:
            raise QueryError(f"cannot open the store {self.store_path} read-only: {exc}") from None
        try:
            conn.execute("BEGIN")  # one snapshot for every statement of the request
            yield conn
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise QueryError(f"{self.store_path} holds no verifier data yet") from None
            raise
        finally:
            conn.close()

    # -- gateways ---------------------------------------------------------------------

    def gateways(self, enrolled: Mapping[str, bytes], now_us: int) -> list[dict[str, Any]]:
        """One summary per gateway that is enrolled or has data, sorted by id."""
        with self._read() as conn:
            heads = {
                r[0]: r[1:]
                for r in conn.execute(
                    "SELECT gateway_id, head_seq, head_hash, public_key, updated_us FROM chain_heads"
                )
            }
            held = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT gateway_id, COUNT(*), MIN(seq) FROM pending GROUP BY gateway_id"
                )
            }
            last_quarantine = dict(
                conn.execute(
                    "SELECT gateway_id, MAX(last_received_us) FROM quarantine"
                    " WHERE gateway_id IS NOT NULL GROUP BY gateway_id"
                ).fetchall()
            )
            recent = self._recent_batches(conn, now_us - 60_000_000)
            ids = sorted(set(enrolled) | set(heads) | set(held))
            out = []
            for gw in ids:
                head = heads.get(gw)
                last_batch_us = self._last_accepted_us(conn, gw) if head else None
                readings_last_min = sum(c for g, _t, c in recent if g == gw)
                n_held, first_held = held.get(gw, (0, None))
                quarantined_us = last_quarantine.get(gw)
                if n_held:
                    state = "gap"
                elif quarantined_us is not None and (
                    last_batch_us is None or quarantined_us > last_batch_us
                ):
                    state = "quarantined"
                elif last_batch_us is not None and now_us - last_batch_us <= LIVE_WITHIN_US:
                    state = "live"
                else:
                    state = "waiting"
                out.append(
                    {
                        "gateway_id": gw,
                        "enrolled": gw in enrolled,
                        "enrolled_key": enrolled[gw].hex() if gw in enrolled else None,
                        "current_key": bytes(head[2]).hex()
                        if head
                        else (enrolled[gw].hex() if gw in enrolled else None),
                        "head_seq": head[0] if head else 0,
                        "head_hash": bytes(head[1]).hex() if head else None,
                        "last_batch_us": last_batch_us,
                        "readings_per_s": round(readings_last_min / 60.0, 3),
                        "held": n_held,
                        "waiting_for_seq": (head[0] if head else 0) + 1 if n_held else None,
                        "first_held_seq": first_held,
                        "last_quarantined_us": quarantined_us,
                        "chain_state": state,
                    }
                )
            return out

    @staticmethod
    def _last_accepted_us(conn: sqlite3.Connection, gateway_id: str) -> int | None:
        row = conn.execute(
            "SELECT accepted_us FROM batches WHERE gateway_id = ? ORDER BY seq DESC LIMIT 1",
            (gateway_id,),
        ).fetchone()
        return int(row[0]) if row else None

    @staticmethod
    def _recent_batches(conn: sqlite3.Connection, since_us: int) -> list[tuple[str, int, int]]:
        """(gateway, accepted_us, count) of the newest batches accepted since ``since_us``."""
        return [
            (r[0], int(r[1]), int(r[2]))
            for r in conn.execute(
                "SELECT gateway_id, accepted_us, count FROM batches"
                " WHERE batch_id > (SELECT COALESCE(MAX(batch_id), 0) FROM batches) - ?"
                " AND accepted_us >= ?",
                (RECENT_BATCHES, since_us),
            )
        ]

    def key_history(self, gateway_id: str, enrolled: bytes | None) -> list[dict[str, Any]]:
        """The keys of a gateway in order: the enrolled one, then each signed rotation."""
        keys: list[dict[str, Any]] = []
        if enrolled is not None:
            keys.append({"public_key": enrolled.hex(), "from_seq": 1, "announced_in_seq": None})
        with self._read() as conn:
            for seq, key in conn.execute(
                "SELECT seq, next_public_key FROM batches WHERE gateway_id = ?"
                " AND next_public_key IS NOT NULL ORDER BY seq",
                (gateway_id,),
            ):
                keys.append(
                    {"public_key": bytes(key).hex(), "from_seq": seq + 1, "announced_in_seq": seq}
                )
        return keys

    def has_gateway(self, gateway_id: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM chain_heads WHERE gateway_id = ? UNION ALL"
                " SELECT 1 FROM pending WHERE gateway_id = ? LIMIT 1",
                (gateway_id, gateway_id),
            ).fetchone()
        return row is not None

    # -- devices ------------------------------------------------------------------------

    def device_boots(self, gateway_id: str) -> tuple[bool, list[dict[str, Any]]]:
        """(whether the store keeps completeness accounts, the account of every device boot
        of the gateway): stored readings, seqs lost by signed notice and why, gaps nothing
        explains, status (verifier/accounts.py). One row per boot, whatever the number of
        readings: the pipeline keeps the accounts as it stores (and backfills old stores)."""
        with self._read() as conn:
            kept = _has_table(conn, "accounts")
            return kept, [a.to_json() for a in list_accounts(conn, gateway_id=gateway_id)]

    # -- quarantine ---------------------------------------------------------------------

    def quarantine(self, *, latest: int, gateway_id: str | None) -> dict[str, Any]:
        """Refusals by reason (all gateways, or one) and the newest ``latest`` rows."""
        where, params = ("WHERE gateway_id = ?", (gateway_id,)) if gateway_id else ("", ())
        with self._read() as conn:
            counts = conn.execute(
                "SELECT reason, SUM(n) FROM ("
                " SELECT gateway_id AS gw, reason, times_seen AS n FROM quarantine"
                " UNION ALL SELECT NULLIF(budget, ''), reason, refused FROM quarantine_overflow)"
                f" AS q {where.replace('gateway_id', 'gw')} GROUP BY reason ORDER BY reason",
                params,
            ).fetchall()
            items = conn.execute(
                "SELECT quarantine_id, gateway_id, seq, header_hash, reason, detail, topic,"
                " received_us, last_received_us, times_seen, payload_len, payload_sha256"
                f" FROM quarantine {where} ORDER BY quarantine_id DESC LIMIT ?",
                (*params, latest),
            ).fetchall()
        return {
            "by_reason": {r[0]: int(r[1]) for r in counts},
            "total": sum(int(r[1]) for r in counts),
            "latest": [
                {
                    "quarantine_id": r[0],
                    "gateway_id": r[1],
                    "seq": r[2],
                    "header_hash": bytes(r[3]).hex() if r[3] is not None else None,
                    "reason": r[4],
                    "detail": r[5],
                    "topic": r[6],
                    "received_us": r[7],
                    "last_received_us": r[8],
                    "times_seen": r[9],
                    "payload_len": r[10],
                    "payload_sha256": bytes(r[11]).hex() if r[11] is not None else None,
                }
                for r in items
            ],
        }

    # -- readings -----------------------------------------------------------------------

    def readings(
        self,
        gateway_id: str,
        *,
        device_id: int | None,
        from_us: int,
        to_us: int,
        limit: int,
        after: tuple[int, int, int, int] | None,
    ) -> ReadingsPage:
        """Accepted readings of a gateway with from_us <= gateway_time_us < to_us, in
        (time, device, boot, seq) order, ``limit`` at a time."""
        sql = (
            "SELECT gateway_time_us, device_id, boot_id, device_seq, channel, unit, mantissa,"
            " exponent, time_kind, device_time_ms, batch_id, leaf_index FROM readings"
            " WHERE gateway_id = ? AND gateway_time_us >= ? AND gateway_time_us < ?"
        )
        params: list[Any] = [gateway_id, from_us, to_us]
        if device_id is not None:
            sql += " AND device_id = ?"
            params.append(device_id)
        if after is not None:
            sql += " AND (gateway_time_us, device_id, boot_id, device_seq) > (?, ?, ?, ?)"
            params.extend(after)
        sql += " ORDER BY gateway_time_us, device_id, boot_id, device_seq LIMIT ?"
        params.append(limit + 1)
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
            seqs = dict(
                conn.execute(
                    "SELECT batch_id, seq FROM batches WHERE batch_id IN"
                    f" ({','.join('?' * len({r[10] for r in rows}))})",
                    sorted({r[10] for r in rows}),
                ).fetchall()
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "gateway_id": gateway_id,
                "device_id": r[1],
                "boot_id": r[2],
                "device_seq": r[3],
                "channel": r[4],
                "unit": r[5],
                "mantissa": r[6],
                "exponent": r[7],
                "time_kind": r[8],
                "device_time_ms": from_i64(r[9]),
                "gateway_time_us": from_i64(r[0]),
                "batch_seq": seqs.get(r[10]),
                "leaf_index": r[11],
            }
            for r in rows
        ]
        next_after = _cursor(rows[-1][:4]) if more and rows else None
        return ReadingsPage(items, next_after)

    # -- throughput ---------------------------------------------------------------------

    def throughput(self, *, now_us: int, window_s: int, step_s: int) -> list[dict[str, Any]]:
        """Readings accepted per ``step_s`` bucket over the last ``window_s`` seconds, per
        gateway, oldest bucket first (by the time the verifier accepted their batch)."""
        start = now_us - window_s * 1_000_000
        step = step_s * 1_000_000
        n = window_s // step_s
        with self._read() as conn:
            recent = self._recent_batches(conn, start)
        per: dict[str, list[int]] = {}
        for gw, at, count in recent:
            i = (at - start) // step
            if 0 <= i < n:
                per.setdefault(gw, [0] * n)[i] += count
        return [
            {"gateway_id": gw, "start_us": start, "step_s": step_s, "readings": buckets}
            for gw, buckets in sorted(per.items())
        ]
