"""The transparency log's entries, kept in the same transaction as the accepted batches.

Real stores, real signed batches: every accepted batch, of every gateway, is one entry
in acceptance order; refused and held batches are not; a store of schema 3 gets its
accepted batches as the log's first entries when upgraded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from verifier_builders import GatewayChain, batch_topic

from edgeseal import native
from edgeseal.verifier.log_store import split_entry
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import SCHEMA_VERSION, VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome


def _processor(store: VerifierStore, *chains: GatewayChain) -> BatchProcessor:
    return BatchProcessor(
        store, TrustStore({c.gateway_id: c.enrolled_key for c in chains}), worker="w1"
    )


def test_every_accepted_batch_is_one_entry_in_acceptance_order(store: VerifierStore) -> None:
    a, b = GatewayChain("gw-a"), GatewayChain("gw-b")
    proc = _processor(store, a, b)
    a1, a2, a3 = a.batches(3)
    b1, b2 = b.batches(2)
    order = []
    for gw, sealed in (("gw-a", a1), ("gw-b", b1), ("gw-a", a3), ("gw-b", b2), ("gw-a", a2)):
        verdicts = proc.handle(batch_topic(gw), sealed.to_payload())
        order += [v.header_hash for v in verdicts if v.outcome is Outcome.ACCEPTED]
    # a3 was held until a2 came: the log follows acceptance, not arrival.
    assert order == [a1.hash, b1.hash, b2.hash, a2.hash, a3.hash]
    assert store.log.size() == 5
    entries = store.log.entries(0, 5)
    by_hash = {s.hash: s for s in (a1, a2, a3, b1, b2)}
    for i, (entry, want) in enumerate(zip(entries, order)):
        sealed = by_hash[want]
        assert entry == sealed.header_bytes + sealed.header_signature
        header, signature = split_entry(entry)
        assert native.verify(
            a.public_key if sealed in (a1, a2, a3) else b.public_key, header, signature
        )
        assert store.log.leaf_hashes(i, i + 1) == [native.leaf_hash(entry)]


def test_refused_duplicate_and_held_batches_are_not_in_the_log(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = _processor(store, gw)
    b1, b2, b3 = gw.batches(3)
    proc.handle(batch_topic("gw-1"), b1.to_payload())
    proc.handle(batch_topic("gw-1"), b1.to_payload())  # duplicate
    proc.handle(batch_topic("gw-1"), b3.to_payload())  # held
    tampered = bytearray(b2.to_payload())
    tampered[-1] ^= 1
    assert proc.handle(batch_topic("gw-1"), bytes(tampered))[0].outcome is Outcome.QUARANTINED
    assert store.log.size() == 1
    assert [v.outcome for v in proc.handle(batch_topic("gw-1"), b2.to_payload())] == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
    ]
    assert store.log.size() == 3


def test_a_failed_group_leaves_neither_batch_nor_entry(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    gw = GatewayChain()
    with VerifierStore(path, synchronous="normal") as store:
        proc = _processor(store, gw)
        proc.handle(batch_topic("gw-1"), gw.next_batch().to_payload())
        # A log entry that cannot be written must take the batch down with it.
        store._conn.execute(
            "CREATE TRIGGER refuse_entry BEFORE INSERT ON log_entries"
            " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        try:
            proc.handle(batch_topic("gw-1"), gw.next_batch().to_payload())
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("the group should have failed")
        assert [s for _g, s, _h in store.accepted_batches()] == [1]
        assert store.log.size() == 1


def test_a_schema_3_store_gets_its_batches_as_the_first_entries(tmp_path: Path) -> None:
    path = tmp_path / "verifier.sqlite"
    a, b = GatewayChain("gw-a"), GatewayChain("gw-b")
    with VerifierStore(path, synchronous="normal") as store:
        proc = _processor(store, a, b)
        sent = [a.next_batch(), b.next_batch(), a.next_batch()]
        for s in sent:
            proc.handle(batch_topic(s.header.gateway_id), s.to_payload())
    conn = sqlite3.connect(path)
    for table in ("log_entries", "log_tiles", "log_checkpoints", "log_witnesses"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with VerifierStore(path, synchronous="normal") as store:
        version = store._conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert store.log.entries(0, 10) == [s.header_bytes + s.header_signature for s in sent]
        proc = _processor(store, a, b)
        later = b.next_batch()
        proc.handle(batch_topic("gw-b"), later.to_payload())
        assert store.log.entries(3, 4) == [later.header_bytes + later.header_signature]
