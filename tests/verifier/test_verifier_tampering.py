"""Every single-bit flip of a sealed batch is refused, for the right reason.

Runs the verification pipeline directly (real store, real signatures) on every
flipped payload of a small batch, and on a sample of a larger one; nothing flipped
may be accepted, and the genuine batch is still accepted afterwards.
"""

from __future__ import annotations

import random
from collections import Counter

from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason
from edgeseal.wire.batch import SealedBatch

TOPIC = batch_topic("gw-1")


def regions(sealed: SealedBatch) -> list[tuple[str, int, int]]:
    """(name, start, end) byte ranges of the payload, in layout order."""
    h = 6 + len(sealed.header_bytes)
    n = sealed.count
    lengths_end = h + 64 + 2 * n
    records_end = lengths_end + len(sealed.records)
    return [
        ("prefix", 0, 6),
        ("header", 6, h),
        ("header_signature", h, h + 64),
        ("record_lengths", h + 64, lengths_end),
        ("records", lengths_end, records_end),
        ("signatures", records_end, records_end + 64 * n),
    ]


# What a flip in each region may legitimately be reported as.
ALLOWED = {
    "prefix": {Reason.MALFORMED},
    # key_id flips name an unknown key; gateway id flips disagree with the topic
    "header": {
        Reason.MALFORMED,
        Reason.BAD_HEADER_SIGNATURE,
        Reason.UNKNOWN_KEY,
        Reason.TOO_FAR_AHEAD,  # a flipped bit in seq
    },
    "header_signature": {Reason.BAD_HEADER_SIGNATURE},
    "record_lengths": {Reason.MALFORMED, Reason.BAD_READING_SIGNATURES},
    "records": {Reason.MALFORMED, Reason.BAD_READING_SIGNATURES},
    "signatures": {Reason.BAD_READING_SIGNATURES},
}


def region_of(table: list[tuple[str, int, int]], byte: int) -> str:
    return next(name for name, start, end in table if start <= byte < end)


def flip(payload: bytes, bit: int) -> bytes:
    out = bytearray(payload)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def check_flips(
    store: VerifierStore, gw: GatewayChain, sealed: SealedBatch, bits: list[int]
) -> Counter:
    proc = BatchProcessor(store, TrustStore({"gw-1": gw.enrolled_key}), worker="flips")
    payload = sealed.to_payload()
    table = regions(sealed)
    assert table[-1][2] == len(payload)
    seen: Counter = Counter()
    for bit in bits:
        region = region_of(table, bit // 8)
        (verdict,) = proc.handle(TOPIC, flip(payload, bit))
        assert verdict.outcome is Outcome.QUARANTINED, (bit, region, verdict)
        assert verdict.reason in ALLOWED[region], (bit, region, verdict.reason, verdict.detail)
        seen[(region, verdict.reason.value)] += 1
    assert store.reading_count() == 0, "a flipped batch was accepted"
    assert store.gaps() == [], "a flipped batch was held as if genuine"
    (genuine,) = proc.handle(TOPIC, payload)
    assert genuine.outcome is Outcome.ACCEPTED
    return seen


def test_every_bit_flip_of_a_small_batch_is_refused(store: VerifierStore) -> None:
    gw = GatewayChain()
    sealed = gw.next_batch(3)
    seen = check_flips(store, gw, sealed, list(range(len(sealed.to_payload()) * 8)))
    # The regions really were exercised, each with its expected main reason.
    assert seen[("header_signature", "bad_header_signature")] == 64 * 8
    assert seen[("signatures", "bad_reading_signatures")] == 3 * 64 * 8
    assert (
        seen[("header", "bad_header_signature")] > 0
        and seen[("records", "bad_reading_signatures")] > 0
    )
    assert len(store.quarantined()) == len(sealed.to_payload()) * 8


def test_sampled_bit_flips_of_a_large_batch_are_refused(store: VerifierStore) -> None:
    gw = GatewayChain()
    first = gw.next_batch(2)
    sealed = gw.next_batch(512)  # seq 2: it would extend the chain if it were accepted
    proc = BatchProcessor(store, TrustStore({"gw-1": gw.enrolled_key}), worker="flips")
    assert proc.handle(TOPIC, first.to_payload())[0].outcome is Outcome.ACCEPTED
    rng = random.Random(20261125)
    bits = rng.sample(range(len(sealed.to_payload()) * 8), 300)
    payload = sealed.to_payload()
    table = regions(sealed)
    for bit in bits:
        region = region_of(table, bit // 8)
        (verdict,) = proc.handle(TOPIC, flip(payload, bit))
        assert verdict.outcome is Outcome.QUARANTINED, (bit, region, verdict)
        assert verdict.reason in ALLOWED[region], (bit, region, verdict.reason, verdict.detail)
    assert store.reading_count() == 2
    assert proc.handle(TOPIC, payload)[0].outcome is Outcome.ACCEPTED
    assert store.reading_count() == 514
