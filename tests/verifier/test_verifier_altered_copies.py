"""A copy of an accepted batch is a duplicate only if it is the same bytes (issue 11, item 8).

The header hash names an accepted batch, but the payload carries more than the header:
its signature, the readings and their signatures. Any other bytes under an accepted
header are quarantined as ``altered_copy``, with the raw copy and what differs; the
accepted batch and its readings stay as they were. Real store, real signatures.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.limits import QUARANTINE_PREFIX_BYTES
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Outcome, Reason, Verdict
from edgeseal.wire.batch import SIGNATURE_LEN, SealedBatch
from edgeseal.wire.record import ReadingRecord

TOPIC = batch_topic("gw-1")


def processor(store: VerifierStore, gw: GatewayChain) -> BatchProcessor:
    return BatchProcessor(store, TrustStore({"gw-1": gw.enrolled_key}), worker="w1")


def only(verdicts: list[Verdict]) -> Verdict:
    assert len(verdicts) == 1, verdicts
    return verdicts[0]


def with_leaves(sealed: SealedBatch, records: list[bytes], signatures: list[bytes]) -> bytes:
    """The payload of ``sealed`` with other leaves (the header and its signature kept)."""
    offsets = [0]
    for r in records:
        offsets.append(offsets[-1] + len(r))
    return replace(
        sealed,
        records=b"".join(records),
        record_offsets=tuple(offsets),
        signatures=b"".join(signatures),
    ).to_payload()


def leaves_of(sealed: SealedBatch) -> tuple[list[bytes], list[bytes]]:
    n = sealed.count
    return [sealed.record(i) for i in range(n)], [sealed.signature(i) for i in range(n)]


def flipped_reading(sealed: SealedBatch) -> bytes:
    """Reading 2 says another value; its signature is the genuine one."""
    records, signatures = leaves_of(sealed)
    genuine = ReadingRecord.decode(records[2])
    records[2] = replace(genuine, mantissa=genuine.mantissa + 1).encode()
    return with_leaves(sealed, records, signatures)


def flipped_reading_signature(sealed: SealedBatch) -> bytes:
    records, signatures = leaves_of(sealed)
    signatures[1] = bytes([signatures[1][0] ^ 0x01]) + signatures[1][1:]
    return with_leaves(sealed, records, signatures)


def flipped_header_signature(sealed: SealedBatch) -> bytes:
    sig = bytearray(sealed.header_signature)
    sig[63] ^= 0x04
    return replace(sealed, header_signature=bytes(sig)).to_payload()


def two_readings_swapped(sealed: SealedBatch) -> bytes:
    """Readings 0 and 1 trade places, each with its own signature."""
    records, signatures = leaves_of(sealed)
    records[0], records[1] = records[1], records[0]
    signatures[0], signatures[1] = signatures[1], signatures[0]
    return with_leaves(sealed, records, signatures)


ALTERATIONS = {
    "reading-2-mantissa+1": (flipped_reading, "readings at indices 2 differ"),
    "reading-signature-1-bit-@0": (
        flipped_reading_signature,
        "reading signatures at indices 1 differ",
    ),
    "header-signature-bit-@63": (flipped_header_signature, "another header signature"),
    "readings-0-1-swapped": (
        two_readings_swapped,
        "the same readings in another order (indices 0, 1 moved)",
    ),
}


@pytest.mark.parametrize("name", sorted(ALTERATIONS))
def test_an_altered_copy_of_an_accepted_batch_is_quarantined_not_a_duplicate(
    store: VerifierStore, name: str
) -> None:
    alter, difference = ALTERATIONS[name]
    gw = GatewayChain()
    proc = processor(store, gw)
    first, second = gw.batches(2, n=4)
    for b in (first, second):
        assert only(proc.handle(TOPIC, b.to_payload())).outcome is Outcome.ACCEPTED
    altered = alter(first)
    assert altered != first.to_payload()
    assert SealedBatch.from_payload(altered).hash == first.hash  # the very same header

    v = only(proc.handle(TOPIC, altered))
    assert (v.outcome, v.reason, v.seq, v.header_hash) == (
        Outcome.QUARANTINED,
        Reason.ALTERED_COPY,
        1,
        first.hash,
    )
    assert f"was accepted with other bytes; this copy has {difference}" in v.detail, v.detail
    (kept,) = store.quarantined()
    # Bytes that do not verify are kept as digest, length and first bytes (store limits).
    assert (kept.reason, kept.seq, kept.payload_len) == ("altered_copy", 1, len(altered))
    assert kept.payload_sha256 == hashlib.sha256(altered).digest()
    assert altered.startswith(kept.payload) and len(kept.payload) == QUARANTINE_PREFIX_BYTES
    # The accepted batch and its readings are untouched; an exact re-send is still a duplicate.
    assert store.accepted_payload(first.hash) == first.to_payload()
    assert store.reading_count("gw-1") == 8
    assert only(proc.handle(TOPIC, first.to_payload())).outcome is Outcome.DUPLICATE
    assert len(store.quarantined()) == 1


def test_every_bit_flip_after_the_header_of_an_accepted_batch_is_refused(
    store: VerifierStore,
) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    sealed = gw.next_batch(3)
    payload = sealed.to_payload()
    assert only(proc.handle(TOPIC, payload)).outcome is Outcome.ACCEPTED
    start = 6 + len(sealed.header_bytes)  # header signature, record lengths, records, signatures
    reasons: set[Reason | None] = set()
    for bit in range(start * 8, len(payload) * 8):
        copy = bytearray(payload)
        copy[bit // 8] ^= 1 << (bit % 8)
        v = only(proc.handle(TOPIC, bytes(copy)))
        assert v.outcome is Outcome.QUARANTINED, (bit, v)
        reasons.add(v.reason)
    # A flipped record length no longer adds up (malformed); everything else decodes.
    assert reasons == {Reason.ALTERED_COPY, Reason.MALFORMED}
    assert store.reading_count("gw-1") == 3


# -- a second valid signature over the same header -----------------------------------
# Ed25519 signing as done by cryptography is deterministic: one signature per key and
# message. A signer that draws its nonce at random (RFC 8032 section 5.1.6 with r
# random instead of SHA-512(prefix || M)) makes another signature that verifies just
# as well. So a copy can pass every check and still not be the accepted bytes.

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, -1, _P) % _P
_BASE = (
    15112221349535400772501151409588531511454012693041857206046113283949847762202,
    46316835694926478169428394003475163141307993866256225615783033603165251855960,
)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z


def _add(p: _Point, q: _Point) -> _Point:
    # "add-2008-hwcd-3" for a = -1 (Hisil, Wong, Carter, Dawson 2008, section 3.1).
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _times_base(scalar: int) -> bytes:
    """Encoding (RFC 8032 section 5.1.2) of scalar * B."""
    result: _Point = (0, 1, 1, 0)
    addend: _Point = (_BASE[0], _BASE[1], 1, _BASE[0] * _BASE[1] % _P)
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    z_inv = pow(result[2], -1, _P)
    x, y = result[0] * z_inv % _P, result[1] * z_inv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def sign_with_random_nonce(key: Ed25519PrivateKey, message: bytes) -> bytes:
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    digest = hashlib.sha512(seed).digest()
    a = int.from_bytes(digest[:32], "little") & (2**254 - 8) | 2**254
    public = _times_base(a)
    r = secrets.randbelow(_L - 1) + 1
    big_r = _times_base(r)
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % _L
    return big_r + ((r + k * a) % _L).to_bytes(32, "little")


def resigned(gw: GatewayChain, sealed: SealedBatch) -> bytes:
    """The same batch with another header signature that verifies under the same key."""
    signature = sign_with_random_nonce(gw.key, sealed.header_bytes)
    assert signature != sealed.header_signature and len(signature) == SIGNATURE_LEN
    Ed25519PublicKey.from_public_bytes(gw.public_key).verify(signature, sealed.header_bytes)
    return replace(sealed, header_signature=signature).to_payload()


def test_a_copy_with_another_valid_header_signature_is_quarantined(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = processor(store, gw)
    sealed = gw.next_batch(4)
    copy = resigned(gw, sealed)
    assert only(proc.handle(TOPIC, sealed.to_payload())).outcome is Outcome.ACCEPTED
    v = only(proc.handle(TOPIC, copy))
    assert (v.outcome, v.reason) == (Outcome.QUARANTINED, Reason.ALTERED_COPY)
    assert v.detail.endswith("this copy has another header signature"), v.detail


def test_both_copies_in_one_group_the_second_is_quarantined(store: VerifierStore) -> None:
    """Neither is accepted when the group is checked: the second one passes every check
    and meets the first only inside the write transaction, at the chain decision."""
    gw = GatewayChain()
    proc = processor(store, gw)
    sealed = gw.next_batch(4)
    copy = resigned(gw, sealed)
    first, second = proc.handle_many([(TOPIC, sealed.to_payload()), (TOPIC, copy)])
    assert only(first).outcome is Outcome.ACCEPTED
    v = only(second)
    assert (v.outcome, v.reason) == (Outcome.QUARANTINED, Reason.ALTERED_COPY), v
    assert store.accepted_payload(sealed.hash) == sealed.to_payload()
    assert [q.payload_sha256 for q in store.quarantined()] == [hashlib.sha256(copy).digest()]
