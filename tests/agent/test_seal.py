"""seal_batch: Merkle root over record||signature leaves, chained header, Ed25519 header signature."""

from __future__ import annotations

import pytest
from agent_helpers import reference_root
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.wire.batch import SealedBatch, header_hash, key_id_of
from edgeseal.wire.record import ReadingRecord


def signed_records(key: Ed25519PrivateKey, n: int) -> tuple[list[bytes], list[bytes]]:
    recs = [
        ReadingRecord("gw-7", 3, 9, i, 1, 2, 100 + i, 0, 0, i, 1_000_000 + 7 * i).encode()
        for i in range(n)
    ]
    return recs, [key.sign(r) for r in recs]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 256])
def test_seal_roots_signs_and_round_trips(n: int) -> None:
    key = Ed25519PrivateKey.generate()
    recs, sigs = signed_records(key, n)
    batch = seal_batch(
        private_key=key,
        gateway_id="gw-7",
        seq=1,
        prev_hash=bytes(32),
        records=recs,
        signatures=sigs,
        first_time_us=1_000_000,
        last_time_us=1_000_000 + 7 * (n - 1),
    )
    h = batch.header
    assert h.count == n and h.seq == 1 and h.prev_hash == bytes(32)
    assert h.key_id == key_id_of(raw_public_key(key))
    assert h.root == reference_root([r + s for r, s in zip(recs, sigs)])
    key.public_key().verify(batch.header_signature, batch.header_bytes)
    assert batch.header_bytes == h.encode()
    again = SealedBatch.from_payload(batch.to_payload())
    assert again == batch and again.hash == header_hash(batch.header_bytes)
    assert [again.record(i) for i in range(n)] == recs


def test_chain_and_rotation_announcement() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    recs, sigs = signed_records(old, 2)
    first = seal_batch(
        private_key=old,
        gateway_id="gw-7",
        seq=1,
        prev_hash=bytes(32),
        records=recs,
        signatures=sigs,
        first_time_us=1,
        last_time_us=2,
        next_public_key=raw_public_key(new),
    )
    assert first.header.next_public_key == raw_public_key(new)
    assert first.header.key_id == key_id_of(raw_public_key(old))
    recs2, sigs2 = signed_records(new, 1)
    second = seal_batch(
        private_key=new,
        gateway_id="gw-7",
        seq=2,
        prev_hash=first.hash,
        records=recs2,
        signatures=sigs2,
        first_time_us=3,
        last_time_us=3,
    )
    assert second.header.prev_hash == first.hash
    announced = Ed25519PublicKey.from_public_bytes(first.header.next_public_key)
    announced.verify(second.header_signature, second.header_bytes)
    with pytest.raises(InvalidSignature):
        old.public_key().verify(second.header_signature, second.header_bytes)


def test_seal_rejects_bad_input() -> None:
    key = Ed25519PrivateKey.generate()
    recs, sigs = signed_records(key, 2)
    common = {
        "private_key": key,
        "gateway_id": "gw-7",
        "seq": 1,
        "prev_hash": bytes(32),
        "first_time_us": 0,
        "last_time_us": 1,
    }
    with pytest.raises(ValueError, match="2 records but 1 signatures"):
        seal_batch(records=recs, signatures=sigs[:1], **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        seal_batch(records=[], signatures=[], **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="signature 1"):
        seal_batch(records=recs, signatures=[sigs[0], sigs[1][:63]], **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record 0"):
        seal_batch(records=[b"x", recs[1]], signatures=sigs, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prev_hash"):
        seal_batch(records=recs, signatures=sigs, **{**common, "prev_hash": b"\x01" * 32})  # type: ignore[arg-type]
