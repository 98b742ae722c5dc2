"""Issue 13's attacks, each against the whole chain (store, tiles, a real witness, a real
RFC 3161 TSA, the anchor contract on an in-process EVM chain), each refused with a
clear reason, while the genuine receipt passes every check."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from log_helpers import ORIGIN, World, full_log, log_signer, sequencer, store_at
from verifier_builders import batch_topic, reading, seal

from edgeseal import native
from edgeseal.anchor.evm import AnchorRefused, EmbeddedChain
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.verifier.log_store import LOG_SCHEMA, log_entry
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.receipt import ReadingRef, build_receipt
from edgeseal.verifier.trust import TrustStore
from edgeseal.wire.batch import ZERO_HASH


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    chain = EmbeddedChain()
    with full_log(tmp_path, chain.anchor(), chain.trust()) as w:
        yield w


REF = ReadingRef("gw-1", 7, 2)  # in batch seq 3 (one reading per batch)


def _receipt(world: World) -> dict[str, Any]:
    with store_at(world.path) as store:
        return build_receipt(store, REF)


def test_the_genuine_receipt_passes_every_link_offline_and_online(world: World) -> None:
    receipt = _receipt(world)
    assert {e["kind"] for e in receipt["anchors"]} == {"rfc3161", "evm"}
    assert world.check(receipt) == []
    assert world.check(receipt, online=True) == []


def test_a_rewritten_batch_is_caught_by_the_tiles_and_the_witness(world: World) -> None:
    """The operator, holding a stolen gateway key, replaces accepted batch seq 3."""
    original = world.sent[2]
    forged = seal(
        world.gw.key,
        "gw-1",
        3,
        original.header.prev_hash,
        [world.gw.next_records(1)[0]],
    )
    with store_at(world.path) as store:
        conn = store._conn
        with store.write():
            batch_id = conn.execute("SELECT batch_id FROM batches WHERE seq = 3").fetchone()[0]
            conn.execute("DELETE FROM readings WHERE batch_id = ?", (batch_id,))
            conn.execute(
                "UPDATE batches SET payload = ?, header_hash = ?, root = ? WHERE batch_id = ?",
                (forged.to_payload(), forged.hash, forged.header.root, batch_id),
            )
            entry = log_entry(forged.header_bytes, forged.header_signature)
            conn.execute(
                "UPDATE log_entries SET entry = ?, header_hash = ?, leaf_hash = ? WHERE batch_id = ?",
                (entry, forged.hash, native.leaf_hash(entry), batch_id),
            )
            record = forged.record(0)
            r = __import__("edgeseal.wire.record", fromlist=["ReadingRecord"]).ReadingRecord.decode(
                record
            )
            conn.execute(
                "INSERT INTO readings (gateway_id, device_id, device_seq, boot_id, channel, unit,"
                " mantissa, exponent, time_kind, device_time_ms, gateway_time_us, batch_id, leaf_index)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (
                    "gw-1",
                    r.device_id,
                    2,
                    r.boot_id,
                    r.channel,
                    r.unit,
                    r.mantissa,
                    r.exponent,
                    r.time_kind,
                    r.device_time_ms,
                    r.gateway_time_us,
                    batch_id,
                ),
            )
        forged_receipt = build_receipt(store, REF)
        # The tiles still commit to the original entry: the receipt's proof fails.
        assert [f.split(":")[0] for f in world.check(forged_receipt)] == ["log inclusion"]
        # Rebuilding the whole log over the rewritten history: the witness refuses it.
        with store.write():
            for table in ("log_tiles", "log_checkpoints"):
                conn.execute(f"DELETE FROM {table}")
        done = world.sequencer(store).step()
        assert done is not None and not done.published and done.cosignatures == 0
        assert "witnesses" in done.pending
        # Even published by hand, its receipt lacks the cosignature, and the anchors
        # (the contract already holds the genuine root for size 6) do not match it.
        with store.write():
            conn.execute("UPDATE log_checkpoints SET published = 1")
        failed = world.check(build_receipt(store, REF))
    names = [f.split(":")[0] for f in failed]
    assert "cosignatures" in names and "anchored" in names, failed


def test_a_checkpoint_with_a_bad_signature_is_refused(world: World) -> None:
    receipt = _receipt(world)
    text, sigs = receipt["log"]["checkpoint"].split("\n\n")
    lines = sigs.split("\n")
    name, blob = lines[0].rsplit(" ", 1)
    blob = ("B" if blob[10] != "B" else "C").join((blob[:10], blob[11:]))
    receipt["log"]["checkpoint"] = text + "\n\n" + "\n".join([f"{name} {blob}", *lines[1:]])
    failed = world.check(receipt)
    assert [f.split(":")[0] for f in failed] == ["checkpoint signature"], failed
    assert "does not verify" in failed[0]


def test_a_truncated_log_is_refused_by_the_witness_and_the_contract(world: World) -> None:
    with store_at(world.path) as store:
        conn = store._conn
        with store.write():
            for table in ("log_entries", "log_tiles", "log_checkpoints"):
                conn.execute(f"DROP TABLE {table}")
            for statement in LOG_SCHEMA:
                conn.execute(statement)
            for sealed in world.sent[:4]:  # only 4 of the 6 accepted batches
                batch_id = conn.execute(
                    "SELECT batch_id FROM batches WHERE header_hash = ?", (sealed.hash,)
                ).fetchone()[0]
                store.log.append_entry(
                    batch_id, sealed.hash, log_entry(sealed.header_bytes, sealed.header_signature)
                )
        done = world.sequencer(store).step()
        assert done is not None and not done.published and done.cosignatures == 0
        cp = store.log.latest_checkpoint(published=False)
        assert cp is not None and cp.size == 4
        assert cp.evidence == []  # what the witness refused is not anchored either
    with pytest.raises(AnchorRefused, match="smaller|size"):
        world.evm.anchor(Checkpoint(ORIGIN, 4, cp.root_hash), cp.note)


def test_a_receipt_whose_batch_is_not_in_the_anchored_log_is_refused(
    world: World, tmp_path: Path
) -> None:
    # Another store accepted another history of gw-1 (say, a second verifier the log
    # never saw); its batch, under the genuine log's checkpoint and proof.
    with store_at(tmp_path / "other.sqlite") as store:
        proc = BatchProcessor(store, TrustStore({"gw-1": world.gw.enrolled_key}), worker="x")
        prev = ZERO_HASH
        for i in range(6):
            later = reading("gw-1", i, time_us=1_800_000_000_000_000 + i)
            sealed = seal(world.gw.key, "gw-1", i + 1, prev, [later])
            proc.handle(batch_topic("gw-1"), sealed.to_payload())
            prev = sealed.hash
        sequencer(store, log_signer()).step()
        stray = build_receipt(store, REF)
    genuine = _receipt(world)
    stray["log"] = copy.deepcopy(genuine["log"])
    stray["anchors"] = copy.deepcopy(genuine["anchors"])
    failed = world.check(stray)
    assert [f.split(":")[0] for f in failed] == ["log inclusion"], failed
    assert "is NOT in the tree of checkpoint 6" in failed[0]


def test_a_split_view_gets_no_second_root_on_the_contract(world: World) -> None:
    with store_at(world.path) as store:
        genuine = store.log.latest_checkpoint()
    assert genuine is not None
    other_root = bytes(32)
    with pytest.raises(AnchorRefused):
        world.evm.anchor(Checkpoint(ORIGIN, genuine.size, other_root), genuine.note)


def test_a_tsa_token_for_another_hash_is_refused(world: World) -> None:
    receipt = _receipt(world)
    tsa = TsaAnchor(world.tsa.url, ca_certs=[world.tsa.ca_pem])
    other = tsa.anchor(Checkpoint(ORIGIN, 5, bytes(32)), b"")
    receipt["anchors"] = [
        other.to_json() if e["kind"] == "rfc3161" else e for e in receipt["anchors"]
    ]
    failed = world.check(receipt)
    assert [f.split(":")[0] for f in failed] == ["anchor rfc3161", "anchored"], failed
