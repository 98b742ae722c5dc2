"""BatchHeader and SealedBatch payloads: docs/formats.md byte by byte, every malformation."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeseal.wire.batch import (
    HEADER_TAG,
    PAYLOAD_TAG,
    BatchHeader,
    SealedBatch,
    header_hash,
    key_id_of,
)
from edgeseal.wire.record import FormatError, ReadingRecord

PREV = bytes(range(32))
ROOT = bytes(range(100, 132))
KEY_ID = bytes(range(200, 216))
NEXT_KEY = bytes(range(50, 82))


def header(**changes: object) -> BatchHeader:
    fields: dict[str, object] = {
        "gateway_id": "gw-01",
        "key_id": KEY_ID,
        "seq": 5,
        "prev_hash": PREV,
        "root": ROOT,
        "count": 3,
        "first_time_us": 1_000,
        "last_time_us": 2_000,
        "next_public_key": None,
    }
    fields.update(changes)
    return BatchHeader(**fields)  # type: ignore[arg-type]


def test_header_layout_byte_by_byte() -> None:
    expected = (
        b"ESB\x01"
        + b"\x05gw-01"
        + KEY_ID
        + (5).to_bytes(8, "big")
        + PREV
        + ROOT
        + (3).to_bytes(4, "big")
        + (1000).to_bytes(8, "big")
        + (2000).to_bytes(8, "big")
        + b"\x00"
    )
    assert header().encode() == expected
    rotated = header(next_public_key=NEXT_KEY).encode()
    assert rotated == expected[:-1] + b"\x01" + NEXT_KEY
    assert BatchHeader.decode(expected) == header()
    assert BatchHeader.decode(rotated) == header(next_public_key=NEXT_KEY)


def test_key_id_and_header_hash() -> None:
    key = bytes(32)
    assert key_id_of(key) == hashlib.sha256(key).digest()[:16]
    assert header_hash(b"abc") == hashlib.sha256(b"abc").digest()
    with pytest.raises(ValueError, match="32"):
        key_id_of(b"\x00" * 31)


headers = st.builds(
    BatchHeader,
    gateway_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    key_id=st.binary(min_size=16, max_size=16),
    seq=st.integers(2, 2**64 - 1),
    prev_hash=st.binary(min_size=32, max_size=32),
    root=st.binary(min_size=32, max_size=32),
    count=st.integers(1, 2**32 - 1),
    first_time_us=st.integers(0, 2**63),
    last_time_us=st.integers(2**63, 2**64 - 1),
    next_public_key=st.none() | st.binary(min_size=32, max_size=32),
)


@given(headers)
def test_header_round_trip(h: BatchHeader) -> None:
    assert BatchHeader.decode(h.encode()) == h


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("seq", 0),
        ("seq", 2**64),
        ("count", 0),
        ("count", 2**32),
        ("first_time_us", -1),
        ("last_time_us", 2**64),
        ("key_id", b"\x00" * 15),
        ("prev_hash", b"\x00" * 33),
        ("root", b""),
        ("next_public_key", b"\x00" * 31),
        ("gateway_id", "bad id"),
    ],
)
def test_encode_rejects_out_of_range(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        header(**{field: bad}).encode()


def test_header_bounds_accepted() -> None:
    h = header(seq=2**64 - 1, count=2**32 - 1, first_time_us=0, last_time_us=2**64 - 1)
    assert BatchHeader.decode(h.encode()) == h
    first = header(seq=1, prev_hash=bytes(32))
    assert BatchHeader.decode(first.encode()) == first


def test_seq_1_must_have_zero_prev_hash() -> None:
    with pytest.raises(ValueError, match="prev_hash"):
        header(seq=1).encode()
    data = bytearray(header(seq=2).encode())
    data[10 + 16 : 10 + 24] = (1).to_bytes(8, "big")
    with pytest.raises(FormatError, match="prev_hash"):
        BatchHeader.decode(bytes(data))


def test_first_after_last_is_rejected() -> None:
    with pytest.raises(ValueError, match="first_time_us"):
        header(first_time_us=3, last_time_us=2).encode()


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def test_decode_rejects_out_of_range_values() -> None:
    data = header().encode()
    base = 4 + 1 + 5  # tag + str8("gw-01")
    seq_at, count_at = base + 16, base + 16 + 8 + 64
    first_at = count_at + 4
    flags_at = first_at + 16
    with pytest.raises(FormatError, match="seq"):
        BatchHeader.decode(_patch(data, seq_at, bytes(8)))
    with pytest.raises(FormatError, match="count"):
        BatchHeader.decode(_patch(data, count_at, bytes(4)))
    with pytest.raises(FormatError, match="first_time_us"):
        BatchHeader.decode(_patch(data, first_at, (5000).to_bytes(8, "big")))
    for flags in (b"\x02", b"\x80", b"\x03"):
        with pytest.raises(FormatError, match="flags"):
            BatchHeader.decode(_patch(data, flags_at, flags) + NEXT_KEY)


def test_header_every_truncation_names_the_field() -> None:
    data = header(next_public_key=NEXT_KEY).encode()
    names = (
        ["tag"] * 4
        + ["gateway_id"] * 6
        + ["key_id"] * 16
        + ["seq"] * 8
        + ["prev_hash"] * 32
        + ["root"] * 32
        + ["count"] * 4
        + ["first_time_us"] * 8
        + ["last_time_us"] * 8
        + ["flags"]
        + ["next_public_key"] * 32
    )
    assert len(names) == len(data)
    for cut in range(len(data)):
        with pytest.raises(FormatError, match=f"batch header: truncated in {names[cut]}"):
            BatchHeader.decode(data[:cut])


def test_header_trailing_bytes_and_tags() -> None:
    with pytest.raises(FormatError, match="trailing bytes after flags"):
        BatchHeader.decode(header().encode() + b"\x00")
    with pytest.raises(FormatError, match="trailing bytes after next_public_key"):
        BatchHeader.decode(header(next_public_key=NEXT_KEY).encode() + b"\x00")
    body = header().encode()[4:]
    with pytest.raises(FormatError, match="version 9"):
        BatchHeader.decode(b"ESB\x09" + body)
    with pytest.raises(FormatError, match="tag"):
        BatchHeader.decode(b"ESR\x01" + body)
    assert HEADER_TAG == b"ESB\x01" and PAYLOAD_TAG == b"ESP\x01"


# --- payloads (structure only; crypto is tested in test_seal.py) ---------------------------


def _records(n: int) -> list[bytes]:
    return [
        ReadingRecord("gw-01", 1, 2, i, 0, 1, i * 10, -1, 0, 1000 + i, 1_000_000 + i).encode()
        for i in range(n)
    ]


def sealed(n: int = 3, next_public_key: bytes | None = None) -> SealedBatch:
    recs = _records(n)
    sigs = [bytes([i % 256]) * 64 for i in range(n)]
    h = header(count=n, next_public_key=next_public_key)
    offsets = [0]
    for r in recs:
        offsets.append(offsets[-1] + len(r))
    return SealedBatch(h, h.encode(), b"\x07" * 64, b"".join(recs), tuple(offsets), b"".join(sigs))


def test_payload_layout_byte_by_byte() -> None:
    batch = sealed(2)
    hb = batch.header_bytes
    recs = _records(2)
    expected = (
        b"ESP\x01"
        + struct.pack(">H", len(hb))
        + hb
        + b"\x07" * 64
        + struct.pack(">HH", len(recs[0]), len(recs[1]))
        + recs[0]
        + recs[1]
        + b"\x00" * 64
        + b"\x01" * 64
    )
    assert batch.to_payload() == expected
    back = SealedBatch.from_payload(expected)
    assert back == batch
    assert back.record(1) == recs[1] and back.signature(1) == b"\x01" * 64
    assert back.leaves() == [recs[0] + b"\x00" * 64, recs[1] + b"\x01" * 64]
    assert back.hash == hashlib.sha256(hb).digest()
    with pytest.raises(IndexError):
        back.record(2)


@given(st.integers(1, 40), st.booleans())
def test_payload_round_trip(n: int, rotate: bool) -> None:
    batch = sealed(n, NEXT_KEY if rotate else None)
    assert SealedBatch.from_payload(batch.to_payload()) == batch


def test_payload_every_truncation_is_a_format_error() -> None:
    payload = sealed(2).to_payload()
    hlen = len(sealed(2).header_bytes)
    for cut in range(len(payload)):
        with pytest.raises(FormatError) as err:
            SealedBatch.from_payload(payload[:cut])
        message = str(err.value)
        if cut < 4:
            assert "tag" in message
        elif cut < 6:
            assert "header_len" in message
        elif cut < 6 + hlen:
            assert "truncated in header" in message
        elif cut < 6 + hlen + 64:
            assert "header_signature" in message
        elif cut < 6 + hlen + 64 + 4:
            assert "record lengths" in message
        elif cut < len(payload) - 128:
            assert "truncated in records" in message
        else:
            assert "truncated in signatures" in message


def test_payload_trailing_bytes_and_bad_parts() -> None:
    payload = sealed(2).to_payload()
    with pytest.raises(FormatError, match="trailing bytes after signatures"):
        SealedBatch.from_payload(payload + b"\x00")
    with pytest.raises(FormatError, match="version 2"):
        SealedBatch.from_payload(b"ESP\x02" + payload[4:])
    with pytest.raises(FormatError, match="tag"):
        SealedBatch.from_payload(b"ESB\x01" + payload[4:])
    # header_len pointing inside the header: the header decoder names the field
    short = payload[:4] + struct.pack(">H", 20) + payload[6:]
    with pytest.raises(FormatError, match="batch header"):
        SealedBatch.from_payload(short)
    hlen = len(sealed(2).header_bytes)
    lengths_at = 6 + hlen + 64
    for bad_len in (0, 10, 500):
        bad = payload[:lengths_at] + struct.pack(">H", bad_len) + payload[lengths_at + 2 :]
        with pytest.raises(FormatError, match="record length 0"):
            SealedBatch.from_payload(bad)


def test_sealed_batch_checks_consistency() -> None:
    good = sealed(2)
    with pytest.raises(ValueError, match="header_signature"):
        SealedBatch(
            good.header, good.header_bytes, b"x", good.records, good.record_offsets, good.signatures
        )
    with pytest.raises(ValueError, match="record_offsets"):
        SealedBatch(
            good.header,
            good.header_bytes,
            good.header_signature,
            good.records,
            good.record_offsets[:-1],
            good.signatures,
        )
    with pytest.raises(ValueError, match="signatures"):
        SealedBatch(
            good.header,
            good.header_bytes,
            good.header_signature,
            good.records,
            good.record_offsets,
            good.signatures[:-1],
        )
