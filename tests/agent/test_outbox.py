"""The SQLite outbox: durable readings, atomic sealing, resume after reopen, bounds, full disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.outbox import Outbox, OutboxError, OutboxFull
from edgeseal.agent.seal import seal_batch
from edgeseal.agent.signer import SignedReading
from edgeseal.testing.filesystems import small_filesystem
from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.record import ReadingRecord

GW = "gw-ob"
KEY = Ed25519PrivateKey.generate()


def reading(seq: int, device: int = 1, boot: int = 5, *, t: int | None = None) -> SignedReading:
    time_us = 1_000_000 + seq if t is None else t
    rec = ReadingRecord(GW, device, boot, seq, 0, 1, seq, 0, 0, seq, time_us).encode()
    return SignedReading(device, boot, seq, rec, KEY.sign(rec), time_us)


def open_outbox(path: Path, **kw: object) -> Outbox:
    args: dict[str, object] = {"gateway_id": GW, "max_bytes": 1 << 20}
    args.update(kw)
    return Outbox(path, **args)  # type: ignore[arg-type]


def seal_next(ob: Outbox, limit: int = 100) -> SealedBatch:
    pending = ob.take_pending(limit)
    head = ob.chain_head()
    batch = seal_batch(
        private_key=KEY,
        gateway_id=GW,
        seq=head.seq + 1,
        prev_hash=head.hash,
        records=[p.record for p in pending],
        signatures=[p.signature for p in pending],
        first_time_us=min(p.time_us for p in pending),
        last_time_us=max(p.time_us for p in pending),
    )
    ob.commit_batch(batch, pending)
    return batch


def test_readings_batches_and_head_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = open_outbox(path)
    assert ob.chain_head().seq == 0 and ob.chain_head().hash == bytes(32)
    ob.add_readings([reading(s) for s in range(1, 6)])
    first = seal_next(ob, 3)
    ob.close()

    ob = open_outbox(path)
    assert ob.pending_count == 2 and ob.batch_count == 1
    assert ob.chain_head().seq == 1 and ob.chain_head().hash == first.hash
    assert ob.device_progress() == {(1, 5): 5}
    assert [b.payload for b in ob.unpublished(0, 10)] == [first.to_payload()]
    second = seal_next(ob)
    assert second.header.prev_hash == first.hash
    assert [
        r.device_seq for r in map(ReadingRecord.decode, [second.record(0), second.record(1)])
    ] == [4, 5]
    assert ob.mark_published([1]) == 1
    # Forgetting a batch skips the fsync; everything else stays power-loss safe.
    assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert [b.seq for b in ob.unpublished(0, 10)] == [2]
    ob.close()
    ob = open_outbox(path)
    assert ob.batch_count == 1 and ob.oldest_batch_seq() == 2 and ob.chain_head().seq == 2
    assert ob.stored_bytes == len(second.to_payload())
    ob.close()


def test_duplicate_readings_are_refused(tmp_path: Path) -> None:
    ob = open_outbox(tmp_path / "o.sqlite")
    ob.add_readings([reading(1), reading(2)])
    with pytest.raises(ValueError, match="duplicate"):
        ob.add_readings([reading(3), reading(2)])
    assert ob.pending_count == 2 and ob.last_stored_seq(1, 5) == 2
    ob.add_readings([reading(1, boot=6)])  # another boot numbers from 1 again
    assert ob.last_stored_seq(1, 6) == 1


def test_commit_refuses_to_fork_the_chain(tmp_path: Path) -> None:
    ob = open_outbox(tmp_path / "o.sqlite")
    ob.add_readings([reading(1), reading(2)])
    pending = ob.take_pending(1)
    stale = seal_batch(
        private_key=KEY,
        gateway_id=GW,
        seq=1,
        prev_hash=bytes(32),
        records=[pending[0].record],
        signatures=[pending[0].signature],
        first_time_us=0,
        last_time_us=2_000_000,
    )
    ob.commit_batch(stale, pending)
    with pytest.raises(OutboxError, match="fork"):
        ob.commit_batch(stale, ob.take_pending(1))
    assert ob.chain_head().seq == 1 and ob.pending_count == 1


def test_bound_reached_refuses_readings_without_losing_any(tmp_path: Path) -> None:
    ob = open_outbox(tmp_path / "o.sqlite", max_bytes=64 * 1024)
    seq = 0
    with pytest.raises(OutboxFull, match="bound"):
        while True:
            ob.add_readings([reading(seq + i) for i in range(1, 11)])
            seq += 10
    assert ob.over_bound and ob.pending_count == seq
    assert ob.last_stored_seq(1, 5) == seq
    # Sealing and publishing make room again.
    while ob.pending_count:
        seal_next(ob)
    ob.mark_published(range(1, ob.chain_head().seq + 1))
    assert not ob.over_bound
    ob.add_readings([reading(seq + 1)])


def test_full_disk_is_outbox_full_and_keeps_everything(tmp_path: Path) -> None:
    # max_file_bytes makes SQLite itself report SQLITE_FULL ("database or disk is full"),
    # exactly what a full file system produces.
    path = tmp_path / "o.sqlite"
    ob = open_outbox(path, max_bytes=1 << 30, max_file_bytes=96 * 1024, reserve_bytes=16 * 1024)
    stored = 0
    with pytest.raises(OutboxFull, match="full"):
        while True:
            ob.add_readings([reading(stored + i) for i in range(1, 51)])
            stored += 50
    assert stored > 0 and ob.pending_count == stored
    ob.close()
    ob = open_outbox(path, max_bytes=1 << 30, reserve_bytes=16 * 1024)
    assert ob.pending_count == stored and ob.last_stored_seq(1, 5) == stored
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM pending").fetchone()[0]
    assert rows == stored


def test_outbox_of_another_gateway_or_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    open_outbox(path).close()
    with pytest.raises(OutboxError, match="belongs to gateway 'gw-ob'"):
        Outbox(path, gateway_id="other", max_bytes=1 << 20)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxError, match="not usable"):
        Outbox(junk, gateway_id=GW, max_bytes=1 << 20)


def test_active_key_id_is_recorded_with_the_rotation_batch(tmp_path: Path) -> None:
    ob = open_outbox(tmp_path / "o.sqlite")
    ob.set_active_key_id(b"\x01" * 16)
    ob.add_readings([reading(1)])
    pending = ob.take_pending(1)
    batch = seal_batch(
        private_key=KEY,
        gateway_id=GW,
        seq=1,
        prev_hash=bytes(32),
        records=[pending[0].record],
        signatures=[pending[0].signature],
        first_time_us=0,
        last_time_us=2_000_000,
        next_public_key=b"\x09" * 32,
    )
    ob.commit_batch(batch, pending, next_key_id=b"\x02" * 16)
    assert ob.chain_head().active_key_id == b"\x02" * 16


def test_reserve_lets_sealing_continue_on_a_full_disk(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ob = open_outbox(
        tmp_path / "o.sqlite", max_bytes=1 << 30, max_file_bytes=128 * 1024, reserve_bytes=24 * 1024
    )
    assert ob.has_reserve
    stored = 0
    with pytest.raises(OutboxFull):
        while True:
            ob.add_readings([reading(stored + i) for i in range(1, 21)])
            stored += 20
    # Every stored reading can still be sealed: the reserve is spent for it.
    while ob.pending_count:
        seal_next(ob, 50)
    assert ob.chain_head().seq >= 2
    assert "used the 24576-byte reserve" in caplog.text
    ob.mark_published(range(1, ob.chain_head().seq + 1))
    assert ob.has_reserve, "acknowledged batches free space, and the reserve comes back first"
    ob.add_readings([reading(stored + 1)])


def test_a_large_backlog_acknowledged_at_once_is_forgotten_on_a_full_disk(
    tmp_path: Path,
) -> None:
    # After an outage the verifier may acknowledge a whole backlog at once. One DELETE of
    # every batch needed more WAL room than a full disk has, even after the reserve was
    # released, so the agent could not forget anything and stayed wedged.
    with small_filesystem(tmp_path / "disk", "1536k") as disk:
        ob = open_outbox(disk / "o.sqlite", max_bytes=1 << 30)
        try:
            stored = 0
            with pytest.raises(OutboxFull):
                while True:
                    ob.add_readings([reading(stored + i) for i in range(1, 6)])
                    stored += 5
                    while ob.pending_count:
                        seal_next(ob, 5)
            while ob.pending_count:
                seal_next(ob, 5)
            batches = ob.batch_count
            assert batches >= 1000, batches  # also past SQLite's expression depth
            assert ob.mark_published(range(1, ob.chain_head().seq + 1)) == batches
            assert ob.batch_count == 0 and ob.has_reserve and ob.has_disk_reserve
            ob.add_readings([reading(stored + 1)])  # intake works again
        finally:
            ob.close()
