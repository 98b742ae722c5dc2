"""Sealing: signed records -> one ``SealedBatch`` (docs/formats.md).

An RFC 9162 Merkle root over the leaves ``record_i || signature_i`` (computed by the
native core), a header that chains to the previous batch, and the header's Ed25519
signature made with the gateway's key (``cryptography``, never our C). The codec of
what this builds is ``edgeseal.wire.batch``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeseal.wire.batch import (
    MAX_LEAF_RECORD_LEN,
    MIN_LEAF_RECORD_LEN,
    SIGNATURE_LEN,
    BatchHeader,
    SealedBatch,
    key_id_of,
)


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal_batch(
    *,
    private_key: Ed25519PrivateKey,
    gateway_id: str,
    seq: int,
    prev_hash: bytes,
    records: Sequence[bytes],
    signatures: Sequence[bytes],
    first_time_us: int,
    last_time_us: int,
    next_public_key: bytes | None = None,
) -> SealedBatch:
    """Build, root and sign one batch. The Merkle root comes from the native core."""
    from edgeseal import native  # the C core; imported here so decoding alone never needs it

    if len(records) != len(signatures):
        raise ValueError(f"{len(records)} records but {len(signatures)} signatures")
    if not records:
        raise ValueError("a batch holds at least one reading")
    for i, sig in enumerate(signatures):
        if len(sig) != SIGNATURE_LEN:
            raise ValueError(f"signature {i} is {len(sig)} bytes, not 64")
    for i, rec in enumerate(records):
        if not MIN_LEAF_RECORD_LEN <= len(rec) <= MAX_LEAF_RECORD_LEN:
            raise ValueError(f"record {i} is {len(rec)} bytes, not a record")
    leaves = [bytes(r) + bytes(s) for r, s in zip(records, signatures)]
    root = native.merkle_root(leaves)
    header = BatchHeader(
        gateway_id=gateway_id,
        key_id=key_id_of(raw_public_key(private_key)),
        seq=seq,
        prev_hash=prev_hash,
        root=root,
        count=len(records),
        first_time_us=first_time_us,
        last_time_us=last_time_us,
        next_public_key=next_public_key,
    )
    header_bytes = header.encode()
    record_bytes = b"".join(records)
    offsets = (0, *itertools.accumulate(len(r) for r in records))
    return SealedBatch(
        header=header,
        header_bytes=header_bytes,
        header_signature=private_key.sign(header_bytes),
        records=record_bytes,
        record_offsets=offsets,
        signatures=b"".join(signatures),
    )
