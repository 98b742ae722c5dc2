"""Batch header, sealed batch and MQTT batch payload (docs/formats.md).

Codec only: the agent seals batches (``edgeseal.agent.seal``), the verifier decodes
them, and both use these types so producer and consumer cannot disagree. A batch
commits to its readings by an RFC 9162 Merkle root over the leaves
``record_i || signature_i``; its header chains to the previous batch. The payload layout keeps lengths, records and signatures each contiguous so the
verifier can hand the native core one buffer per kind.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass

from edgeseal.wire.event import MAX_EVENT_LEN, MIN_EVENT_LEN
from edgeseal.wire.record import (
    MAX_RECORD_LEN,
    MIN_RECORD_LEN,
    FormatError,
    check_gateway_id,
    check_tag,
    decode_head,
)

HEADER_TAG = b"ESB\x01"
PAYLOAD_TAG = b"ESP\x01"

KEY_ID_LEN = 16
HASH_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
ZERO_HASH = bytes(HASH_LEN)
FLAG_KEY_ROTATION = 0x01
MAX_COUNT = 2**32 - 1
# A leaf's record is a reading (ESR) or an event (ESE): its length lies in either range.
MIN_LEAF_RECORD_LEN = min(MIN_RECORD_LEN, MIN_EVENT_LEN)
MAX_LEAF_RECORD_LEN = max(MAX_RECORD_LEN, MAX_EVENT_LEN)

# Fixed-size part of the header after the gateway id (flags included).
_HEADER_TAIL = struct.Struct(">16sQ32s32sIQQB")
_HEADER_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("key_id", 16, 0),
    ("seq", 8, 0),
    ("prev_hash", 32, 0),
    ("root", 32, 0),
    ("count", 4, 0),
    ("first_time_us", 8, 0),
    ("last_time_us", 8, 0),
    ("flags", 1, 0),
)
_U64_MAX = 2**64 - 1
_PAYLOAD_PREFIX = struct.Struct(">4sH")


def key_id_of(public_key: bytes) -> bytes:
    """The 16-byte key id: SHA-256 of the raw 32-byte Ed25519 public key, truncated."""
    if len(public_key) != PUBLIC_KEY_LEN:
        raise ValueError(f"public key is {len(public_key)} bytes; Ed25519 keys are 32")
    return hashlib.sha256(public_key).digest()[:KEY_ID_LEN]


def header_hash(header_bytes: bytes) -> bytes:
    """SHA-256 of the header bytes: what the next batch's prev_hash holds."""
    return hashlib.sha256(header_bytes).digest()


@dataclass(frozen=True)
class BatchHeader:
    """The signed summary of one batch; it chains to its predecessor by prev_hash."""

    gateway_id: str
    key_id: bytes
    seq: int
    prev_hash: bytes
    root: bytes
    count: int
    first_time_us: int
    last_time_us: int
    next_public_key: bytes | None = None

    def _check(self) -> None:
        check_gateway_id(self.gateway_id)
        for name, value, size in (
            ("key_id", self.key_id, KEY_ID_LEN),
            ("prev_hash", self.prev_hash, HASH_LEN),
            ("root", self.root, HASH_LEN),
        ):
            if not isinstance(value, bytes) or len(value) != size:
                raise ValueError(f"{name} must be {size} bytes, got {value!r}")
        if type(self.seq) is not int or not 1 <= self.seq <= _U64_MAX:
            raise ValueError(f"seq={self.seq!r} is out of range [1, 2^64-1]")
        if self.seq == 1 and self.prev_hash != ZERO_HASH:
            raise ValueError("prev_hash of batch seq 1 must be 32 zero bytes")
        if type(self.count) is not int or not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count={self.count!r} is out of range [1, 2^32-1]")
        for name, t in (("first_time_us", self.first_time_us), ("last_time_us", self.last_time_us)):
            if type(t) is not int or not 0 <= t <= _U64_MAX:
                raise ValueError(f"{name}={t!r} is out of range [0, 2^64-1]")
        if self.first_time_us > self.last_time_us:
            raise ValueError(
                f"first_time_us {self.first_time_us} is after last_time_us {self.last_time_us}"
            )
        if self.next_public_key is not None and (
            not isinstance(self.next_public_key, bytes)
            or len(self.next_public_key) != PUBLIC_KEY_LEN
        ):
            raise ValueError(
                f"next_public_key must be 32 bytes or None, got {self.next_public_key!r}"
            )

    def encode(self) -> bytes:
        """The header bytes (what is signed); raises ValueError naming a bad field."""
        self._check()
        gateway = self.gateway_id.encode("ascii")
        flags = FLAG_KEY_ROTATION if self.next_public_key is not None else 0
        out = (
            HEADER_TAG
            + bytes((len(gateway),))
            + gateway
            + _HEADER_TAIL.pack(
                self.key_id,
                self.seq,
                self.prev_hash,
                self.root,
                self.count,
                self.first_time_us,
                self.last_time_us,
                flags,
            )
        )
        if self.next_public_key is not None:
            out += self.next_public_key
        return out

    @classmethod
    def decode(cls, data: bytes) -> BatchHeader:
        """Parse header bytes; raises FormatError naming the field at fault."""
        gateway_id, offset = decode_head(
            data, HEADER_TAG, "batch header", _HEADER_TAIL, _HEADER_FIELDS
        )
        key_id, seq, prev_hash, root, count, first, last, flags = _HEADER_TAIL.unpack_from(
            data, offset
        )
        offset += _HEADER_TAIL.size
        if flags & ~FLAG_KEY_ROTATION:
            raise FormatError(
                f"batch header: flags 0x{flags:02x} has unknown bits set (only bit 0)"
            )
        next_public_key: bytes | None = None
        if flags & FLAG_KEY_ROTATION:
            if len(data) - offset < PUBLIC_KEY_LEN:
                raise FormatError(
                    f"batch header: truncated in next_public_key "
                    f"({len(data) - offset} of {PUBLIC_KEY_LEN} bytes)"
                )
            next_public_key = bytes(data[offset : offset + PUBLIC_KEY_LEN])
            offset += PUBLIC_KEY_LEN
        if offset != len(data):
            last_field = "next_public_key" if next_public_key is not None else "flags"
            raise FormatError(
                f"batch header: {len(data) - offset} trailing bytes after {last_field}"
            )
        if seq == 0:
            raise FormatError("batch header: seq is 0 (the first batch is 1)")
        if seq == 1 and prev_hash != ZERO_HASH:
            raise FormatError("batch header: prev_hash of seq 1 is not 32 zero bytes")
        if count == 0:
            raise FormatError("batch header: count is 0 (a batch holds at least one reading)")
        if first > last:
            raise FormatError(f"batch header: first_time_us {first} is after last_time_us {last}")
        return cls(gateway_id, key_id, seq, prev_hash, root, count, first, last, next_public_key)


@dataclass(frozen=True)
class SealedBatch:
    """A batch as published: header bytes, their signature, records and their signatures."""

    header: BatchHeader
    header_bytes: bytes  # exactly what was signed
    header_signature: bytes  # 64 bytes
    records: bytes  # all record bytes concatenated, leaf order
    record_offsets: tuple[int, ...]  # n+1 offsets into `records`
    signatures: bytes  # n*64 bytes

    def __post_init__(self) -> None:
        n = self.header.count
        if len(self.header_signature) != SIGNATURE_LEN:
            raise ValueError(f"header_signature is {len(self.header_signature)} bytes, not 64")
        if len(self.record_offsets) != n + 1:
            raise ValueError(
                f"record_offsets has {len(self.record_offsets)} entries; count+1 = {n + 1}"
            )
        if self.record_offsets[0] != 0 or self.record_offsets[-1] != len(self.records):
            raise ValueError("record_offsets must start at 0 and end at len(records)")
        if len(self.signatures) != n * SIGNATURE_LEN:
            raise ValueError(f"signatures is {len(self.signatures)} bytes; count*64 = {n * 64}")

    @property
    def count(self) -> int:
        return self.header.count

    @property
    def hash(self) -> bytes:
        return header_hash(self.header_bytes)

    def record(self, i: int) -> bytes:
        if not 0 <= i < self.header.count:
            raise IndexError(f"record index {i} outside 0..{self.header.count - 1}")
        return self.records[self.record_offsets[i] : self.record_offsets[i + 1]]

    def signature(self, i: int) -> bytes:
        if not 0 <= i < self.header.count:
            raise IndexError(f"signature index {i} outside 0..{self.header.count - 1}")
        return self.signatures[i * SIGNATURE_LEN : (i + 1) * SIGNATURE_LEN]

    def leaves(self) -> list[bytes]:
        """Merkle leaves in order: record_i || signature_i."""
        recs, offs, sigs = self.records, self.record_offsets, self.signatures
        return [
            recs[offs[i] : offs[i + 1]] + sigs[i * SIGNATURE_LEN : (i + 1) * SIGNATURE_LEN]
            for i in range(self.header.count)
        ]

    def to_payload(self) -> bytes:
        offs = self.record_offsets
        lengths = struct.pack(
            f">{self.header.count}H", *(b - a for a, b in itertools.pairwise(offs))
        )
        return b"".join(
            (
                _PAYLOAD_PREFIX.pack(PAYLOAD_TAG, len(self.header_bytes)),
                self.header_bytes,
                self.header_signature,
                lengths,
                self.records,
                self.signatures,
            )
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> SealedBatch:
        """Split a payload into its parts (structure only, no crypto); raises FormatError."""
        data = bytes(payload)
        check_tag(data, PAYLOAD_TAG, "batch payload")
        if len(data) < _PAYLOAD_PREFIX.size:
            raise FormatError("batch payload: truncated in header_len")
        (header_len,) = struct.unpack_from(">H", data, len(PAYLOAD_TAG))
        offset = _PAYLOAD_PREFIX.size
        if len(data) - offset < header_len:
            raise FormatError(
                f"batch payload: truncated in header ({len(data) - offset} of {header_len} bytes)"
            )
        header_bytes = data[offset : offset + header_len]
        header = BatchHeader.decode(header_bytes)
        offset += header_len
        if len(data) - offset < SIGNATURE_LEN:
            raise FormatError(
                f"batch payload: truncated in header_signature ({len(data) - offset} of 64 bytes)"
            )
        header_signature = data[offset : offset + SIGNATURE_LEN]
        offset += SIGNATURE_LEN
        n = header.count
        if len(data) - offset < 2 * n:
            raise FormatError(
                f"batch payload: truncated in record lengths (count {n} needs {2 * n} bytes, "
                f"{len(data) - offset} left)"
            )
        lengths = struct.unpack_from(f">{n}H", data, offset)
        offset += 2 * n
        for i, length in enumerate(lengths):
            if not MIN_LEAF_RECORD_LEN <= length <= MAX_LEAF_RECORD_LEN:
                raise FormatError(
                    f"batch payload: record length {i} is {length} (a reading record is "
                    f"{MIN_RECORD_LEN} to {MAX_RECORD_LEN} bytes, an event record "
                    f"{MIN_EVENT_LEN} to {MAX_EVENT_LEN})"
                )
        record_offsets = (0, *itertools.accumulate(lengths))
        records_len = record_offsets[-1]
        if len(data) - offset < records_len:
            raise FormatError(
                f"batch payload: truncated in records ({len(data) - offset} of {records_len} bytes)"
            )
        records = data[offset : offset + records_len]
        offset += records_len
        sig_len = n * SIGNATURE_LEN
        if len(data) - offset < sig_len:
            raise FormatError(
                f"batch payload: truncated in signatures ({len(data) - offset} of {sig_len} bytes)"
            )
        signatures = data[offset : offset + sig_len]
        offset += sig_len
        if offset != len(data):
            raise FormatError(
                f"batch payload: {len(data) - offset} trailing bytes after signatures"
            )
        return cls(header, header_bytes, header_signature, records, record_offsets, signatures)
