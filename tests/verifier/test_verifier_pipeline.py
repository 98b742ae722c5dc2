"""The verification pipeline on a real SQLite store with real signatures.

Every verdict is checked together with what the store holds afterwards: accepted
readings exactly once, quarantined batches with their raw bytes and reason, held
batches released in order.
"""

from __future__ import annotations

from hashlib import sha256

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic, reading, seal

from edgeseal.agent.seal import raw_public_key
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason, Verdict
from edgeseal.wire.batch import SIGNATURE_LEN


def processor(store: VerifierStore, *chains: GatewayChain, worker: str = "w1") -> BatchProcessor:
    return BatchProcessor(
        store, TrustStore({c.gateway_id: c.enrolled_key for c in chains}), worker=worker
    )


def send(proc: BatchProcessor, sealed_or_payload, gateway_id: str = "gw-1") -> list[Verdict]:
    payload = (
        sealed_or_payload
        if isinstance(sealed_or_payload, bytes)
        else sealed_or_payload.to_payload()
    )
    return proc.handle(batch_topic(gateway_id), payload)


def only(verdicts: list[Verdict]) -> Verdict:
    assert len(verdicts) == 1, verdicts
    return verdicts[0]


def test_a_chain_is_accepted_and_every_reading_stored_once(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    batches = gw.batches(5, n=6)
    for b in batches:
        v = only(send(proc, b))
        assert v.outcome is Outcome.ACCEPTED, v
        assert (v.seq, v.header_hash, v.count) == (b.header.seq, b.hash, 6)
    assert store.reading_count("gw-1") == 30
    assert [s for _g, s, _h in store.accepted_batches("gw-1")] == [1, 2, 3, 4, 5]
    state = store.chain_state("gw-1", gw.enrolled_key)
    assert (state.head_seq, state.head_hash) == (5, batches[-1].hash)
    found = store.find_readings("gw-1", 7, 13)
    assert len(found) == 1 and found[0].leaf_index == 1  # batch 3 holds device seqs 12..17


def test_exact_resend_is_acknowledged_and_ignored(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    first = gw.next_batch()
    assert only(send(proc, first)).outcome is Outcome.ACCEPTED
    again = only(send(proc, first))
    assert again.outcome is Outcome.DUPLICATE and again.header_hash == first.hash
    assert store.reading_count() == 4 and store.quarantined() == []


def test_out_of_order_batches_are_held_then_released_in_order(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2, b3, b4 = gw.batches(4)
    assert only(send(proc, b1)).outcome is Outcome.ACCEPTED
    held4 = only(send(proc, b4))
    assert held4.outcome is Outcome.PENDING and held4.reason is Reason.GAP
    assert held4.waiting_for == 2 and held4.detail.startswith("waiting for seq 2")
    held3 = only(send(proc, b3))
    assert held3.outcome is Outcome.PENDING
    assert (
        only(send(proc, b3)).outcome is Outcome.PENDING
    )  # a re-send of a held batch stays held once
    gaps = store.gaps()
    assert [(g.gateway_id, g.waiting_for, g.held_seqs) for g in gaps] == [("gw-1", 2, (3, 4))]
    assert store.reading_count() == 4

    verdicts = send(proc, b2)
    assert [(v.outcome, v.seq) for v in verdicts] == [
        (Outcome.ACCEPTED, 2),
        (Outcome.ACCEPTED, 3),
        (Outcome.ACCEPTED, 4),
    ]
    assert store.gaps() == [] and store.reading_count() == 16


def test_gap_from_a_dropped_batch_stays_visible(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, _dropped, b3 = gw.batches(3)
    send(proc, b1)
    v = only(send(proc, b3))
    assert v.outcome is Outcome.PENDING and v.waiting_for == 2
    assert store.gaps()[0].waiting_for == 2
    assert store.reading_count() == 4  # nothing of batch 3 is accepted, nothing is lost either
    assert store.held_up_to("gw-1", 3)[0].payload == b3.to_payload()


def test_a_second_batch_for_an_accepted_seq_is_a_fork(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2 = gw.batches(2)
    send(proc, b1)
    send(proc, b2)
    rival = seal(gw.key, "gw-1", 2, b1.hash, [reading("gw-1", 900)])
    v = only(send(proc, rival))
    assert v.outcome is Outcome.QUARANTINED and v.reason is Reason.FORK
    assert "seq 2 was already accepted" in v.detail
    (q,) = store.quarantined()
    assert (q.reason, q.seq, q.payload) == ("fork", 2, rival.to_payload())
    assert store.reading_count() == 8


def test_a_batch_that_does_not_chain_to_the_head_is_a_fork(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    send(proc, gw.next_batch())
    stray = seal(gw.key, "gw-1", 2, b"\x55" * 32, [reading("gw-1", 900)])
    v = only(send(proc, stray))
    assert v.reason is Reason.FORK and "does not match the accepted seq 1" in v.detail


def test_readings_already_accepted_are_a_replay(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1 = gw.next_batch()
    send(proc, b1)
    again = [reading("gw-1", 100), reading("gw-1", 2)]  # device seq 2 was in batch 1
    replay = seal(gw.key, "gw-1", 2, b1.hash, again)
    v = only(send(proc, replay))
    assert v.outcome is Outcome.QUARANTINED and v.reason is Reason.REPLAY
    assert "indices 1 were already accepted" in v.detail
    assert store.reading_count() == 4  # reading 100 was not stored either
    assert store.chain_state("gw-1", gw.enrolled_key).head_seq == 1


def test_the_same_reading_twice_in_one_batch_is_a_replay(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    twice = seal(gw.key, "gw-1", 1, bytes(32), [reading("gw-1", 5), reading("gw-1", 5)])
    v = only(send(proc, twice))
    assert v.reason is Reason.REPLAY and "reading 1 repeats 0" in v.detail


def test_unenrolled_gateway_and_unknown_key(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    stranger = GatewayChain(gateway_id="gw-x")
    v = only(send(proc, stranger.next_batch(), "gw-x"))
    assert v.reason is Reason.UNKNOWN_GATEWAY and "'gw-x' is not enrolled" in v.detail

    impostor = GatewayChain(key=Ed25519PrivateKey.generate())  # claims gw-1 with another key
    v = only(send(proc, impostor.next_batch()))
    assert v.reason is Reason.UNKNOWN_KEY and "not the gateway's current key" in v.detail
    assert store.reading_count() == 0 and len(store.quarantined()) == 2


def test_bad_signatures_are_reported_with_their_indices(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b = gw.next_batch(8)
    sigs = bytearray(b.signatures)
    for i in (2, 5):
        sigs[i * SIGNATURE_LEN] ^= 0x01
    payload = b.to_payload()
    tampered = payload[: len(payload) - len(sigs)] + bytes(sigs)
    v = only(send(proc, tampered))
    assert v.reason is Reason.BAD_READING_SIGNATURES
    assert "2 of 8 reading signatures do not verify, at indices 2, 5" in v.detail
    assert "Merkle root" in v.detail  # the leaves changed too, and that is reported as well

    forged_header = bytearray(payload)
    forged_header[6 + len(b.header_bytes)] ^= 0x80  # first byte of the header signature
    v = only(send(proc, bytes(forged_header)))
    assert v.reason is Reason.BAD_HEADER_SIGNATURE
    assert store.reading_count() == 0


def test_readings_signed_by_another_key_are_bad_signatures(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    other = Ed25519PrivateKey.generate()
    b = seal(gw.key, "gw-1", 1, bytes(32), [reading("gw-1", i) for i in range(3)], signer=other)
    v = only(send(proc, b))
    assert v.reason is Reason.BAD_READING_SIGNATURES and "indices 0, 1, 2" in v.detail


def test_reordered_leaves_are_a_root_mismatch(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b = gw.next_batch(4)
    recs = [b.record(i) for i in range(4)]
    sigs = [b.signature(i) for i in range(4)]
    order = [1, 0, 2, 3]  # swap two readings together with their signatures
    lengths = b"".join(len(recs[i]).to_bytes(2, "big") for i in order)
    prefix = b.to_payload()[: 6 + len(b.header_bytes) + 64]
    swapped = prefix + lengths + b"".join(recs[i] for i in order) + b"".join(sigs[i] for i in order)
    v = only(send(proc, swapped))
    assert v.reason is Reason.ROOT_MISMATCH and v.detail.startswith("Merkle root over the 4 leaves")


def test_records_of_another_gateway_or_outside_the_time_bounds(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    foreign = seal(gw.key, "gw-1", 1, bytes(32), [reading("gw-1", 1), reading("gw-2", 2)])
    v = only(send(proc, foreign))
    assert v.reason is Reason.RECORD_MISMATCH and "indices 1 name gateway 'gw-2'" in v.detail

    recs = [reading("gw-1", 1), reading("gw-1", 2)]
    encoded = [r.encode() for r in recs]
    from edgeseal.agent.seal import seal_batch

    loose = seal_batch(
        private_key=gw.key,
        gateway_id="gw-1",
        seq=1,
        prev_hash=bytes(32),
        records=encoded,
        signatures=[gw.key.sign(e) for e in encoded],
        first_time_us=recs[0].gateway_time_us - 5,
        last_time_us=recs[1].gateway_time_us,
    )
    v = only(send(proc, loose))
    assert v.reason is Reason.RECORD_MISMATCH and "time bounds" in v.detail
    assert store.reading_count() == 0


def test_garbage_and_mismatched_topics_are_malformed(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    v = only(send(proc, b"\x00garbage"))
    assert v.reason is Reason.MALFORMED and "tag" in v.detail and v.gateway_id == "gw-1"
    v = only(send(proc, gw.next_batch(), "gw-2"))
    assert v.reason is Reason.MALFORMED and "topic names gateway 'gw-2'" in v.detail
    v = only(proc.handle("edgeseal/v1/bad.id/batch", b"x"))
    assert v.reason is Reason.MALFORMED and v.gateway_id is None
    assert store.quarantined()[0].payload == b"\x00garbage"


def test_key_rotation_signed_by_the_old_key(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    old_key = gw.key
    new_key = Ed25519PrivateKey.generate()
    b1 = gw.next_batch()
    b2 = gw.next_batch(rotate_to=new_key)  # signed by the old key, announces the new one
    b3 = gw.next_batch()  # signed by the new key
    for b in (b1, b2, b3):
        assert only(send(proc, b)).outcome is Outcome.ACCEPTED
    assert store.chain_state("gw-1", gw.enrolled_key).public_key == raw_public_key(new_key)
    # The retired key can no longer extend the chain.
    stale = seal(old_key, "gw-1", 4, b3.hash, [reading("gw-1", 500)])
    v = only(send(proc, stale))
    assert v.reason is Reason.UNKNOWN_KEY
    # Re-sends of batches signed before the rotation are still recognised.
    assert only(send(proc, b1)).outcome is Outcome.DUPLICATE


def test_a_batch_signed_by_a_key_not_yet_announced_is_refused_until_the_rotation(
    store: VerifierStore,
) -> None:
    # Nothing is held unverified (store limits): a key no accepted or held batch has
    # announced could be anybody's. The agent re-sends the batch; then it is accepted.
    gw = GatewayChain()
    proc = processor(store, gw)
    b1 = gw.next_batch()
    b2 = gw.next_batch(rotate_to=Ed25519PrivateKey.generate())
    b3 = gw.next_batch()
    send(proc, b1)
    refused = only(send(proc, b3))
    assert (refused.outcome, refused.reason) == (Outcome.QUARANTINED, Reason.UNKNOWN_KEY)
    assert "re-send it after that rotation is accepted" in refused.detail
    assert store.gaps() == []
    assert [(v.outcome, v.seq) for v in send(proc, b2)] == [(Outcome.ACCEPTED, 2)]
    assert [(v.outcome, v.seq) for v in send(proc, b3)] == [(Outcome.ACCEPTED, 3)]


def test_a_held_batch_that_turns_out_forked_is_quarantined_on_release(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2 = gw.batches(2)
    bogus3 = seal(gw.key, "gw-1", 3, b"\x44" * 32, [reading("gw-1", 700)])
    send(proc, b1)
    assert only(send(proc, bogus3)).outcome is Outcome.PENDING
    verdicts = send(proc, b2)
    assert [(v.outcome, v.reason) for v in verdicts] == [
        (Outcome.ACCEPTED, None),
        (Outcome.QUARANTINED, Reason.FORK),
    ]
    assert store.gaps() == []


def test_two_processors_on_one_store_never_accept_a_fork(tmp_path) -> None:
    # Two workers (own connections) race two rival batches for seq 2; one wins.
    gw = GatewayChain()
    a = VerifierStore(tmp_path / "shared.sqlite", synchronous="normal")
    b = VerifierStore(tmp_path / "shared.sqlite", synchronous="normal")
    try:
        pa, pb = processor(a, gw, worker="a"), processor(b, gw, worker="b")
        b1 = gw.next_batch()
        send(pa, b1)
        rival1 = seal(gw.key, "gw-1", 2, b1.hash, [reading("gw-1", 10)])
        rival2 = seal(gw.key, "gw-1", 2, b1.hash, [reading("gw-1", 11)])
        va, vb = only(send(pa, rival1)), only(send(pb, rival2))
        assert (va.outcome, vb.outcome, vb.reason) == (
            Outcome.ACCEPTED,
            Outcome.QUARANTINED,
            Reason.FORK,
        )
        assert a.reading_count() == 5
    finally:
        a.close()
        b.close()


def test_operator_report_shows_heads_gaps_and_quarantine(
    store: VerifierStore, tmp_path, capsys
) -> None:
    from verifier_builders import config_toml

    from edgeseal.cli import main as edgeseal_main

    gw = GatewayChain()
    proc = processor(store, gw)
    b1, _lost, b3 = gw.batches(3)
    send(proc, b1)
    send(proc, b3)
    send(proc, b"junk")
    config = tmp_path / "verifier.toml"
    config.write_text(config_toml(store.path, {"gw-1": gw.enrolled_key}, port=1883))
    assert edgeseal_main(["verifier", "--config", str(config), "--report"]) == 1  # a gap is open
    out = capsys.readouterr().out
    assert "gw-1: seq 1, 4 readings" in out
    assert "gw-1: WAITING FOR SEQ 2; holding 1 batch(es) (seqs 3)" in out
    assert "gw-1: malformed x 1" in out


def test_the_report_names_enrolled_gateways_with_no_accepted_batch(
    store: VerifierStore, tmp_path, capsys
) -> None:
    from verifier_builders import config_toml

    from edgeseal.cli import main as edgeseal_main

    gw1, gw2, gw3 = GatewayChain("gw-1"), GatewayChain("gw-2"), GatewayChain("gw-3")
    proc = processor(store, gw1, gw2, gw3)
    send(proc, gw1.next_batch())
    send(proc, b"junk", "gw-2")  # something arrived from gw-2, nothing good
    config = tmp_path / "verifier.toml"
    enrolled = {c.gateway_id: c.enrolled_key for c in (gw1, gw2, gw3)}
    config.write_text(config_toml(store.path, enrolled, port=1883))
    assert edgeseal_main(["verifier", "--config", str(config), "--report"]) == 1
    out = capsys.readouterr().out
    assert "enrolled gateways with no accepted batch:\n" in out
    assert "  gw-2: NO BATCH ACCEPTED; 1 quarantined, 0 held (see below)\n" in out
    assert (
        "  gw-3: NOTHING RECEIVED on edgeseal/v1/gw-3/batch; is the gateway running, on this "
        "broker, with mqtt.topic_prefix = 'edgeseal/v1' as here?\n"
    ) in out
    assert "gw-1:" not in out.split("enrolled gateways with no accepted batch:")[1].split("held")[0]

    send(proc, gw2.next_batch(), "gw-2")
    send(proc, gw3.next_batch(), "gw-3")
    assert edgeseal_main(["verifier", "--config", str(config), "--report"]) == 0
    assert "no accepted batch" not in capsys.readouterr().out


def test_a_held_rival_of_a_batch_accepted_directly_is_settled_as_a_fork(
    store: VerifierStore,
) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2, b3 = gw.batches(3)
    rival3 = seal(gw.key, "gw-1", 3, b2.hash, [reading("gw-1", 800)])
    send(proc, b1)
    assert only(send(proc, rival3)).outcome is Outcome.PENDING  # held: seq 2 is missing
    send(proc, b2)  # releases rival3 (accepted: it chains to b2 and is validly signed)
    v = only(send(proc, b3))
    assert v.reason is Reason.FORK  # the genuine 3 now loses: the chain took the rival first
    assert store.gaps() == []

    # The other order: the rival is held behind a gap that the genuine batch closes itself.
    gw2 = GatewayChain(gateway_id="gw-2")
    proc2 = processor(store, gw, gw2)
    c1, c2, c3 = gw2.batches(3)
    rival2 = seal(gw2.key, "gw-2", 2, b"\x33" * 32, [reading("gw-2", 900)])
    send(proc2, c1, "gw-2")
    assert only(send(proc2, c3, "gw-2")).outcome is Outcome.PENDING
    verdicts = send(proc2, c2, "gw-2")
    assert [(v.outcome, v.seq) for v in verdicts] == [(Outcome.ACCEPTED, 2), (Outcome.ACCEPTED, 3)]
    held = only(send(proc2, rival2, "gw-2"))  # arrives late: an accepted seq, quarantined at once
    assert held.reason is Reason.FORK
    assert store.gaps() == []


def test_stale_held_batches_are_cleared_when_the_chain_passes_them(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2, b3, b4 = gw.batches(4)
    rival3 = seal(gw.key, "gw-1", 3, b"\x22" * 32, [reading("gw-1", 800)])  # does not chain to b2
    send(proc, b1)
    send(proc, rival3)  # held, waiting for 2
    send(proc, b4)  # held, waiting for 2
    verdicts = send(proc, b2)
    # b2 accepted; rival3 (seq 3) fails the chain check; the genuine b3 is still missing.
    assert [(v.outcome, v.seq, v.reason) for v in verdicts] == [
        (Outcome.ACCEPTED, 2, None),
        (Outcome.QUARANTINED, 3, Reason.FORK),
    ]
    assert [(g.waiting_for, g.held_seqs) for g in store.gaps()] == [(3, (4,))]
    verdicts = send(proc, b3)
    assert [(v.outcome, v.seq) for v in verdicts] == [(Outcome.ACCEPTED, 3), (Outcome.ACCEPTED, 4)]
    assert store.gaps() == []


def test_a_held_batch_the_chain_overtook_is_settled_as_a_fork(store: VerifierStore) -> None:
    # With several workers a batch can be held just before another worker accepts a
    # rival for its seq and moves on; the next release must settle it, not skip it.
    gw = GatewayChain()
    proc = processor(store, gw)
    b1, b2, b3 = gw.batches(3)
    send(proc, b1)
    send(proc, b2)
    stale = seal(gw.key, "gw-1", 2, b1.hash, [reading("gw-1", 600)])
    with store.write():  # as the other worker's hold, committed just before b2 was accepted
        store.hold(
            sealed=stale,
            topic=batch_topic("gw-1"),
            payload=stale.to_payload(),
            verified_key=gw.enrolled_key,
            worker="other",
        )
    assert store.gaps()[0].held_seqs == (2,)
    verdicts = send(proc, b3)
    assert [(v.outcome, v.seq, v.reason) for v in verdicts] == [
        (Outcome.ACCEPTED, 3, None),
        (Outcome.QUARANTINED, 2, Reason.FORK),
    ]
    assert store.gaps() == []


def test_a_record_that_does_not_decode_is_malformed_with_its_index(store: VerifierStore) -> None:
    from edgeseal.agent.seal import seal_batch

    gw = GatewayChain()
    proc = processor(store, gw)
    encoded = [reading("gw-1", i).encode() for i in range(6)]
    encoded[2] = encoded[2][:-17] + b"\x07" + encoded[2][-16:]  # time_kind 7, signed as such
    bad = seal_batch(
        private_key=gw.key,
        gateway_id="gw-1",
        seq=1,
        prev_hash=bytes(32),
        records=encoded,
        signatures=[gw.key.sign(e) for e in encoded],
        first_time_us=reading("gw-1", 0).gateway_time_us,
        last_time_us=reading("gw-1", 5).gateway_time_us,
    )
    v = only(send(proc, bad))
    assert v.outcome is Outcome.QUARANTINED and v.reason is Reason.MALFORMED
    assert v.detail == "reading 2: record: time_kind 7 is invalid (0 or 1)"
    assert (
        store.reading_count() == 0
        and store.quarantined()[0].payload_sha256 == sha256(bad.to_payload()).digest()
    )


def test_times_from_2_63_on_are_stored_bit_for_bit(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    top = 2**64 - 1
    records = [reading("gw-1", i, time_us=t) for i, t in enumerate((top, 2**63, 2**63 - 1, 0))]
    v = only(send(proc, seal(gw.key, "gw-1", 1, bytes(32), records)))
    assert v.outcome is Outcome.ACCEPTED, v
    stored = [store.find_readings("gw-1", 7, i)[0] for i in range(4)]
    assert [s.gateway_time_us for s in stored] == [top, 2**63, 2**63 - 1, 0]
    assert [s.leaf_index for s in stored] == [0, 1, 2, 3]


def mixed_traffic() -> tuple[list[GatewayChain], list[tuple[str, bytes]]]:
    """Messages of two gateways with every kind of verdict, some depending on earlier ones."""
    a, b = GatewayChain("gw-a"), GatewayChain("gw-b", device_id=9)
    new_key = Ed25519PrivateKey.generate()
    a1, a2 = a.next_batch(), a.next_batch(rotate_to=new_key)
    a3, a4, a5 = a.batches(3)  # signed by the key a2 announces
    b1, b2 = b.next_batch(), b.next_batch(rotate_to=Ed25519PrivateKey.generate())
    b3 = b.next_batch()  # signed by the key b2 announces, right after it in one group
    tampered = bytearray(b3.to_payload())
    tampered[-1] ^= 1  # last reading signature
    replayed = seal(b.key, "gw-b", 3, b2.hash, [reading("gw-b", 0, device_id=9)])
    stranger = GatewayChain("gw-z").next_batch()
    # Header by the new key, readings signed by another: verified only once b2 is accepted.
    forged = seal(b.key, "gw-b", 3, b2.hash, b.next_records(2), signer=Ed25519PrivateKey.generate())
    messages = [
        (batch_topic("gw-a"), a1.to_payload()),
        (batch_topic("gw-b"), b1.to_payload()),
        (batch_topic("gw-a"), a3.to_payload()),  # ahead, by a key not yet announced: refused
        (batch_topic("gw-a"), a2.to_payload()),  # rotation
        (batch_topic("gw-a"), a2.to_payload()),  # re-sent in the same group
        (batch_topic("gw-a"), a3.to_payload()),  # re-sent by the agent: now accepted
        (batch_topic("gw-b"), bytes(tampered)),
        (batch_topic("gw-b"), b2.to_payload()),
        (batch_topic("gw-b"), replayed.to_payload()),
        (batch_topic("gw-b"), forged.to_payload()),
        (batch_topic("gw-z"), stranger.to_payload()),
        (batch_topic("gw-a"), b"\x00garbage"),
        (batch_topic("gw-a"), a5.to_payload()),  # held until a4
        (batch_topic("gw-a"), a4.to_payload()),
        (batch_topic("gw-b"), b3.to_payload()),
    ]
    return [a, b], messages


def outcome_rows(results: list[list[Verdict]]) -> list[list[tuple[object, ...]]]:
    return [
        [
            (
                v.outcome,
                v.gateway_id,
                v.seq,
                v.header_hash,
                v.count,
                v.reason,
                v.detail,
                v.waiting_for,
            )
            for v in verdicts
        ]
        for verdicts in results
    ]


def store_contents(store: VerifierStore) -> tuple[object, ...]:
    quarantine = [(q.gateway_id, q.seq, q.reason, q.detail, q.payload) for q in store.quarantined()]
    keys = {gw: store.reading_keys(gw) for gw in ("gw-a", "gw-b")}
    return store.accepted_batches(), store.chain_heads(), quarantine, keys, store.gaps()


def test_a_group_in_one_transaction_gives_the_verdicts_of_one_by_one(tmp_path) -> None:
    chains, messages = mixed_traffic()
    trust = TrustStore({c.gateway_id: c.enrolled_key for c in chains})
    with VerifierStore(tmp_path / "single.sqlite", synchronous="normal") as single:
        one_by_one = [BatchProcessor(single, trust, worker="w").handle(t, p) for t, p in messages]
        expected = store_contents(single)
    flat = [v.outcome for verdicts in one_by_one for v in verdicts]
    assert flat.count(Outcome.ACCEPTED) == 8 and flat.count(Outcome.DUPLICATE) == 1
    assert flat.count(Outcome.PENDING) == 1 and flat.count(Outcome.QUARANTINED) == 6
    for size in (2, 5, len(messages)):
        with VerifierStore(tmp_path / f"group{size}.sqlite", synchronous="normal") as grouped:
            proc = BatchProcessor(grouped, trust, worker="w")
            results = []
            for start in range(0, len(messages), size):
                results += proc.handle_many(messages[start : start + size])
            assert outcome_rows(results) == outcome_rows(one_by_one), size
            assert store_contents(grouped) == expected, size
