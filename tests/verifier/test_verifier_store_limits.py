"""What a publisher without a gateway's key can make the store keep (issue 11 item 4),
and the bounds on held batches (item 2): real sealed batches on a real SQLite file.

Sizes are of the store's files on disk (database + WAL), measured after the flood.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic

from edgeseal.agent.seal import raw_public_key
from edgeseal.verifier.limits import QUARANTINE_PREFIX_BYTES, StoreLimits
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason
from edgeseal.wire.batch import SealedBatch, key_id_of

MIB = 1024 * 1024


def store_bytes(store: VerifierStore) -> int:
    """The database file's size once the WAL is copied into it (what the store keeps)."""
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(store.path)


def with_header(template: SealedBatch, key: Ed25519PrivateKey, **changes: object) -> SealedBatch:
    """``template``'s readings under a new header signed by ``key`` (cheap forgeries)."""
    header = dataclasses.replace(template.header, key_id=key_id_of(raw_public_key(key)), **changes)
    header_bytes = header.encode()
    return dataclasses.replace(
        template,
        header=header,
        header_bytes=header_bytes,
        header_signature=key.sign(header_bytes),
    )


def processor(store: VerifierStore, chain: GatewayChain, limits: StoreLimits) -> BatchProcessor:
    return BatchProcessor(
        store, TrustStore({chain.gateway_id: chain.enrolled_key}), worker="w", limits=limits
    )


def test_forged_batches_ahead_under_an_unknown_key_are_not_held(store: VerifierStore) -> None:
    chain = GatewayChain("gw-01")
    proc = processor(store, chain, StoreLimits())
    first, second = chain.batches(2)
    assert proc.handle(batch_topic("gw-01"), first.to_payload())[0].outcome is Outcome.ACCEPTED
    # One big batch (2000 readings, ~220 kB) re-headed 200 times under an attacker's key.
    template = GatewayChain("gw-01", device_id=99).next_batch(2000)
    attacker = Ed25519PrivateKey.generate()
    before = store_bytes(store)
    for seq in range(3, 203):
        forged = with_header(template, attacker, seq=seq)
        (verdict,) = proc.handle(batch_topic("gw-01"), forged.to_payload())
        assert (verdict.outcome, verdict.reason) == (Outcome.QUARANTINED, Reason.UNKNOWN_KEY)
    grown = store_bytes(store) - before
    print(f"200 forged batches of {len(template.to_payload())} bytes: store grew {grown} bytes")
    assert store.gaps() == []  # nothing held
    rows = store.quarantined("gw-01")
    assert len(rows) == 200
    assert all(len(r.payload) == QUARANTINE_PREFIX_BYTES for r in rows)
    assert all(r.payload_len == len(template.to_payload()) for r in rows)
    assert grown < 1 * MIB  # was 44 MB with every payload held
    # The gateway's own traffic goes on.
    assert proc.handle(batch_topic("gw-01"), second.to_payload())[0].outcome is Outcome.ACCEPTED


def test_a_batch_at_seq_2_62_is_refused_at_once(store: VerifierStore) -> None:
    chain = GatewayChain("gw-01")
    proc = processor(store, chain, StoreLimits(max_seq_jump=4096))
    template = chain.next_batch(4)
    for key in (chain.key, Ed25519PrivateKey.generate()):  # the gateway's key or not
        far = with_header(template, key, seq=2**62)
        (verdict,) = proc.handle(batch_topic("gw-01"), far.to_payload())
        assert (verdict.outcome, verdict.reason) == (Outcome.QUARANTINED, Reason.TOO_FAR_AHEAD)
        assert "max_seq_jump = 4096" in verdict.detail
    assert store.gaps() == []
    # 4096 ahead of the head (seq 0) is still held; one more is not.
    edge = with_header(template, chain.key, seq=4096)
    assert proc.handle(batch_topic("gw-01"), edge.to_payload())[0].outcome is Outcome.PENDING
    past = with_header(template, chain.key, seq=4097)
    assert proc.handle(batch_topic("gw-01"), past.to_payload())[0].reason is Reason.TOO_FAR_AHEAD


def test_held_batches_are_bounded_per_gateway_and_released_in_order(
    store: VerifierStore,
) -> None:
    chain = GatewayChain("gw-01")
    proc = processor(store, chain, StoreLimits(held_batches_per_gateway=3))
    batches = chain.batches(7)
    topic = batch_topic("gw-01")
    for b in batches[2:5]:
        assert proc.handle(topic, b.to_payload())[0].outcome is Outcome.PENDING
    (refused,) = proc.handle(topic, batches[5].to_payload())
    assert (refused.outcome, refused.reason) == (Outcome.QUARANTINED, Reason.HELD_LIMIT)
    assert (
        "held_batches_per_gateway = 3" in refused.detail and "waiting for seq 1" in refused.detail
    )
    # A re-send of a held batch takes no room: still pending, not refused.
    assert proc.handle(topic, batches[4].to_payload())[0].outcome is Outcome.PENDING
    assert [g.held for g in store.gaps()] == [3]
    proc.handle(topic, batches[0].to_payload())
    released = proc.handle(topic, batches[1].to_payload())
    assert [v.seq for v in released if v.outcome is Outcome.ACCEPTED] == [2, 3, 4, 5]
    # The refused batch comes again (the agent re-sends it) and is accepted.
    for b in batches[5:]:
        assert proc.handle(topic, b.to_payload())[0].outcome is Outcome.ACCEPTED
    assert store.gaps() == []


def test_held_bytes_are_bounded_per_gateway(store: VerifierStore) -> None:
    chain = GatewayChain("gw-01")
    batches = chain.batches(4, n=50)
    size = len(batches[1].to_payload())
    proc = processor(store, chain, StoreLimits(held_bytes_per_gateway=2 * size + 10))
    topic = batch_topic("gw-01")
    outcomes = [proc.handle(topic, b.to_payload())[0].reason for b in batches[1:]]
    assert outcomes == [Reason.GAP, Reason.GAP, Reason.HELD_LIMIT]


def test_a_batch_under_a_key_announced_by_a_held_batch_is_verified_then_held(
    store: VerifierStore,
) -> None:
    chain = GatewayChain("gw-01")
    proc = processor(store, chain, StoreLimits())
    topic = batch_topic("gw-01")
    new_key = Ed25519PrivateKey.generate()
    first, second = chain.batches(2)
    rotating = chain.next_batch(rotate_to=new_key)  # seq 3, signed by the enrolled key
    after = chain.next_batch()  # seq 4, signed by the new key
    assert proc.handle(topic, rotating.to_payload())[0].outcome is Outcome.PENDING
    # The announced key is checked now: a forged header under it is not held.
    bad = dataclasses.replace(after, header_signature=bytes(64))
    assert proc.handle(topic, bad.to_payload())[0].reason is Reason.BAD_HEADER_SIGNATURE
    assert proc.handle(topic, after.to_payload())[0].outcome is Outcome.PENDING
    proc.handle(topic, first.to_payload())
    released = proc.handle(topic, second.to_payload())
    assert [v.seq for v in released if v.outcome is Outcome.ACCEPTED] == [2, 3, 4]


def test_quarantine_keeps_bounded_bytes_per_gateway_and_overall(store: VerifierStore) -> None:
    chain = GatewayChain("gw-01")
    limits = StoreLimits(quarantine_bytes_per_gateway=8 * 1024, quarantine_bytes_total=12 * 1024)
    proc = processor(store, chain, limits)
    before = store_bytes(store)
    for i in range(30):  # 30 x 1 MB of garbage on an enrolled and on unenrolled topics
        garbage = os.urandom(MIB)
        for gw in ("gw-01", f"nobody-{i}"):
            (verdict,) = proc.handle(batch_topic(gw), garbage)
            assert (verdict.outcome, verdict.reason) == (Outcome.QUARANTINED, Reason.MALFORMED)
    grown = store_bytes(store) - before
    print(f"60 garbage payloads of 1 MiB: store grew {grown} bytes")
    used = store.quarantine_bytes()
    assert used["gw-01"] <= 8 * 1024 and sum(used.values()) <= 12 * 1024
    assert len(store.quarantined()) < 30  # the rest were counted, not stored
    # Every refusal is counted, stored or not.
    counts = {(gw, reason): n for gw, reason, n in store.quarantine_counts()}
    assert counts[("gw-01", "malformed")] == 30
    assert sum(n for (gw, _r), n in counts.items() if gw != "gw-01") == 30
    assert grown < 1 * MIB  # was 60 MB with every payload kept
    # A valid batch is still accepted.
    assert proc.handle(batch_topic("gw-01"), chain.next_batch().to_payload())[0].outcome is (
        Outcome.ACCEPTED
    )


def test_a_refused_payload_sent_again_counts_up_one_row(store: VerifierStore) -> None:
    chain = GatewayChain("gw-01")
    proc = processor(store, chain, StoreLimits())
    batch = chain.next_batch()
    tampered = dataclasses.replace(batch, header_signature=bytes(64)).to_payload()
    for _ in range(5):
        assert proc.handle(batch_topic("gw-01"), tampered)[0].reason is Reason.BAD_HEADER_SIGNATURE
    (row,) = store.quarantined("gw-01")
    assert row.times_seen == 5
    assert store.quarantine_counts() == [("gw-01", "bad_header_signature", 5)]
