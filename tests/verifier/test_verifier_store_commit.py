"""A write transaction of the verifier's store that fails, at COMMIT or before, leaves
nothing behind: the store file and the worker's own connection agree, the write lock
is released for the other workers, and the next group is stored normally.

Real SQLite files; the failures are SQLite's own (SQLITE_BUSY on COMMIT, SQLITE_FULL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome


@pytest.fixture
def gateway() -> GatewayChain:
    return GatewayChain("gw-c")


def processor(store: VerifierStore, gw: GatewayChain) -> BatchProcessor:
    return BatchProcessor(store, TrustStore({gw.gateway_id: gw.enrolled_key}), worker="w1")


def outcomes(proc: BatchProcessor, payload: bytes, gw: GatewayChain) -> list[Outcome]:
    return [v.outcome for v in proc.handle(batch_topic(gw.gateway_id), payload)]


def stored(store: VerifierStore, gw: GatewayChain) -> tuple[list[int], int, int]:
    """(accepted seqs, chain head seq, readings) as ``store``'s connection sees them."""
    state = store.chain_state(gw.gateway_id, gw.enrolled_key)
    seqs = [s for _g, s, _h in store.accepted_batches(gw.gateway_id)]
    return seqs, state.head_seq, store.reading_count(gw.gateway_id)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[VerifierStore, VerifierStore]]:
    path = tmp_path / "verifier.sqlite"
    first = VerifierStore(path, synchronous="normal", busy_timeout_s=2.0)
    second = VerifierStore(path, synchronous="normal", busy_timeout_s=0.5)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_a_commit_refused_with_sqlite_busy_is_rolled_back(
    two_workers: tuple[VerifierStore, VerifierStore],
    gateway: GatewayChain,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, other = two_workers
    proc = processor(store, gateway)
    b1, b2, b3 = gateway.batches(3)
    assert outcomes(proc, b1.to_payload(), gateway) == [Outcome.ACCEPTED]

    # SQLite refuses COMMIT with SQLITE_BUSY ("SQL statements in progress") while a
    # write statement of the connection is still running, and leaves the transaction
    # open: the same state as a COMMIT that found the lock it needs taken.
    running: list[sqlite3.Cursor] = []
    accept = store.accept

    def accept_and_leave_a_write_running(**kwargs: Any) -> int:
        batch_id = accept(**kwargs)
        conn = store._conn  # the store's own connection: the statement must run on it
        running.append(conn.execute("INSERT INTO meta VALUES ('probe', 'x') RETURNING key"))
        return batch_id

    monkeypatch.setattr(store, "accept", accept_and_leave_a_write_running)
    with pytest.raises(sqlite3.OperationalError, match="SQL statements in progress"):
        proc.handle(batch_topic(gateway.gateway_id), b2.to_payload())
    monkeypatch.undo()
    running.clear()

    # Batch 2 is nowhere: not in the file, not in what this worker's connection sees.
    assert stored(store, gateway) == ([1], 1, 4)
    assert stored(other, gateway) == ([1], 1, 4)
    # The write lock was released: another worker stores a batch (held: 2 is missing).
    assert outcomes(processor(other, gateway), b3.to_payload(), gateway) == [Outcome.PENDING]
    # The broker delivers batch 2 again (it was never acknowledged): accepted, and it
    # releases batch 3.
    assert outcomes(proc, b2.to_payload(), gateway) == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert stored(store, gateway) == ([1, 2, 3], 3, 12)
    assert stored(other, gateway) == ([1, 2, 3], 3, 12)


def test_a_full_store_reports_the_full_disk_and_works_again_once_there_is_room(
    two_workers: tuple[VerifierStore, VerifierStore], gateway: GatewayChain
) -> None:
    store, other = two_workers
    proc = processor(store, gateway)
    b1, b2 = gateway.batches(2, n=4)
    big = gateway.next_batch(n=400)
    assert outcomes(proc, b1.to_payload(), gateway) == [Outcome.ACCEPTED]
    assert outcomes(proc, b2.to_payload(), gateway) == [Outcome.ACCEPTED]

    # Cap the file where it is now: the big batch needs new pages, SQLITE_FULL.
    conn = store._conn
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        proc.handle(batch_topic(gateway.gateway_id), big.to_payload())
    assert not conn.in_transaction
    assert stored(store, gateway) == ([1, 2], 2, 8)
    assert stored(other, gateway) == ([1, 2], 2, 8)

    conn.execute(f"PRAGMA max_page_count = {2**31 - 2}")  # room again
    assert outcomes(proc, big.to_payload(), gateway) == [Outcome.ACCEPTED]
    assert stored(other, gateway) == ([1, 2, 3], 3, 408)
