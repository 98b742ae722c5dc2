"""ReadingRecord: the exact bytes of docs/formats.md, every bound, every malformation."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeseal.wire import record
from edgeseal.wire.record import (
    MAX_RECORD_LEN,
    MIN_RECORD_LEN,
    RECORD_TAG,
    BadRecord,
    FormatError,
    ReadingRecord,
    RecordColumns,
    RecordEncoder,
    decode_many,
)

BOUNDS = {
    "device_id": (0, 2**32 - 1),
    "boot_id": (0, 2**32 - 1),
    "device_seq": (0, 2**32 - 1),
    "channel": (0, 2**16 - 1),
    "unit": (0, 2**16 - 1),
    "mantissa": (-(2**31), 2**31 - 1),
    "exponent": (-128, 127),
    "device_time_ms": (0, 2**64 - 1),
    "gateway_time_us": (0, 2**64 - 1),
}


def sample(**changes: object) -> ReadingRecord:
    fields: dict[str, object] = {
        "gateway_id": "gw-01",
        "device_id": 0x01020304,
        "boot_id": 0x0A0B0C0D,
        "device_seq": 7,
        "channel": 2,
        "unit": 0x0101,
        "mantissa": -2150,
        "exponent": -2,
        "time_kind": 1,
        "device_time_ms": 1_700_000_000_123,
        "gateway_time_us": 1_700_000_000_456_789,
    }
    fields.update(changes)
    return ReadingRecord(**fields)  # type: ignore[arg-type]


def test_layout_matches_formats_md_byte_by_byte() -> None:
    data = sample().encode()
    expected = (
        b"ESR\x01"
        + b"\x05gw-01"
        + bytes.fromhex("01020304")  # device_id
        + bytes.fromhex("0a0b0c0d")  # boot_id
        + bytes.fromhex("00000007")  # device_seq
        + bytes.fromhex("0002")  # channel
        + bytes.fromhex("0101")  # unit
        + struct.pack(">i", -2150)  # mantissa, two's complement
        + b"\xfe"  # exponent -2
        + b"\x01"  # time_kind
        + (1_700_000_000_123).to_bytes(8, "big")
        + (1_700_000_000_456_789).to_bytes(8, "big")
    )
    assert data == expected
    assert ReadingRecord.decode(data) == sample()


records = st.builds(
    ReadingRecord,
    gateway_id=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    device_id=st.integers(*BOUNDS["device_id"]),
    boot_id=st.integers(*BOUNDS["boot_id"]),
    device_seq=st.integers(*BOUNDS["device_seq"]),
    channel=st.integers(*BOUNDS["channel"]),
    unit=st.integers(*BOUNDS["unit"]),
    mantissa=st.integers(*BOUNDS["mantissa"]),
    exponent=st.integers(*BOUNDS["exponent"]),
    time_kind=st.sampled_from([0, 1]),
    device_time_ms=st.integers(*BOUNDS["device_time_ms"]),
    gateway_time_us=st.integers(*BOUNDS["gateway_time_us"]),
)


@given(records)
def test_round_trip(record: ReadingRecord) -> None:
    data = record.encode()
    assert MIN_RECORD_LEN <= len(data) <= MAX_RECORD_LEN
    assert ReadingRecord.decode(data) == record
    fields = {k: v for k, v in record.__dict__.items() if k != "gateway_id"}
    assert RecordEncoder(record.gateway_id).encode(**fields) == data


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_every_field_bound(field: str) -> None:
    low, high = BOUNDS[field]
    for ok in (low, high):
        assert getattr(ReadingRecord.decode(sample(**{field: ok}).encode()), field) == ok
    encoder = RecordEncoder("gw-01")
    base = {k: v for k, v in sample().__dict__.items() if k != "gateway_id"}
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError, match=field):
            sample(**{field: bad}).encode()
        with pytest.raises(ValueError, match=field):
            encoder.encode(**{**base, field: bad})


def test_non_integer_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="channel"):
        sample(channel=1.0).encode()


@pytest.mark.parametrize("time_kind", [2, 255, -1])
def test_time_kind_other_than_0_or_1(time_kind: int) -> None:
    with pytest.raises(ValueError, match="time_kind"):
        sample(time_kind=time_kind).encode()
    data = bytearray(sample().encode())
    data[-17] = 2  # time_kind sits just before the two u64 times
    with pytest.raises(FormatError, match="time_kind"):
        ReadingRecord.decode(bytes(data))


@pytest.mark.parametrize("gateway_id", ["", "a" * 65, "gw 1", "gw/1", "gw+", "gwé"])
def test_bad_gateway_id(gateway_id: str) -> None:
    with pytest.raises(ValueError, match="gateway_id"):
        sample(gateway_id=gateway_id).encode()
    with pytest.raises(ValueError, match="gateway_id"):
        RecordEncoder(gateway_id)


def test_decode_rejects_bad_gateway_id_bytes() -> None:
    good = sample(gateway_id="abc").encode()
    for raw in (b"a/c", b"\xff\xfe\xfd"):
        with pytest.raises(FormatError, match="gateway_id"):
            ReadingRecord.decode(good[:5] + raw + good[8:])
    with pytest.raises(FormatError, match="gateway_id"):
        ReadingRecord.decode(good[:4] + b"\x00" + good[5 + 3 :] + b"\x00\x00\x00")


def test_every_truncation_names_the_field() -> None:
    data = sample(gateway_id="gw").encode()
    names = (
        ["tag"] * 4
        + ["gateway_id"] * 3
        + ["device_id"] * 4
        + ["boot_id"] * 4
        + ["device_seq"] * 4
        + ["channel"] * 2
        + ["unit"] * 2
        + ["mantissa"] * 4
        + ["exponent"]
        + ["time_kind"]
        + ["device_time_ms"] * 8
        + ["gateway_time_us"] * 8
    )
    assert len(names) == len(data)
    for cut in range(len(data)):
        with pytest.raises(FormatError, match=f"truncated.*{names[cut]}") as err:
            ReadingRecord.decode(data[:cut])
        assert "record" in str(err.value)


def test_trailing_bytes() -> None:
    with pytest.raises(FormatError, match="1 trailing bytes"):
        ReadingRecord.decode(sample().encode() + b"\x00")


def test_wrong_tag_and_version() -> None:
    body = sample().encode()[4:]
    with pytest.raises(FormatError, match="version 2"):
        ReadingRecord.decode(b"ESR\x02" + body)
    for tag in (b"ESB\x01", b"XXXX", b"esr\x01"):
        with pytest.raises(FormatError, match="tag"):
            ReadingRecord.decode(tag + body)
    assert RECORD_TAG == b"ESR\x01"


def test_format_error_is_a_value_error() -> None:
    assert issubclass(FormatError, ValueError)


# -- decode_many: the verifier's bulk decoder agrees with the single decoder -------------


def packed(encoded: list[bytes]) -> tuple[bytes, tuple[int, ...]]:
    return b"".join(encoded), (0, *itertools.accumulate(len(e) for e in encoded))


def one_by_one(encoded: list[bytes]) -> tuple[object, ...]:
    """The oracle: ReadingRecord.decode on each record, stopping at the first failure."""
    out = []
    for i, data in enumerate(encoded):
        try:
            out.append(ReadingRecord.decode(data))
        except FormatError as exc:
            return ("error", i, str(exc))
    return ("ok", out)


def in_bulk(encoded: list[bytes]) -> tuple[object, ...]:
    try:
        columns = decode_many(*packed(encoded))
    except BadRecord as exc:
        assert str(exc) == f"reading {exc.index}: {exc.reason}"
        return ("error", exc.index, exc.reason)
    assert len(columns) == len(encoded)
    return ("ok", columns.records())


one_gateway_batches = st.tuples(
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    st.lists(records, min_size=1, max_size=40),
).map(lambda t: [ReadingRecord(t[0], *r._tail_values()) for r in t[1]])


@given(st.lists(records, min_size=1, max_size=40))
def test_decode_many_agrees_on_mixed_records(batch: list[ReadingRecord]) -> None:
    encoded = [r.encode() for r in batch]
    assert in_bulk(encoded) == one_by_one(encoded) == ("ok", batch)


@given(one_gateway_batches)
def test_decode_many_agrees_on_one_gateway_batches(batch: list[ReadingRecord]) -> None:
    encoded = [r.encode() for r in batch]
    assert in_bulk(encoded) == one_by_one(encoded) == ("ok", batch)
    columns = decode_many(*packed(encoded))
    assert columns == RecordColumns.of(batch)
    assert [columns.record(i) for i in range(len(batch))] == batch


def mutate(data: st.DataObject, record: bytes) -> bytes:
    """One malformation (or a change that still decodes) of one record."""
    kind = data.draw(st.sampled_from(["byte", "time_kind", "gateway", "truncate", "extend"]))
    if kind == "byte":
        at = data.draw(st.integers(0, len(record) - 1))
        value = data.draw(st.integers(0, 255))
        return record[:at] + bytes((value,)) + record[at + 1 :]
    if kind == "time_kind":
        return record[:-17] + bytes((data.draw(st.integers(0, 255)),)) + record[-16:]
    if kind == "gateway":  # another gateway id of the same length: only the prefix differs
        length = record[4]
        other = data.draw(st.from_regex(rf"[A-Za-z0-9_-]{{{length}}}", fullmatch=True))
        return record[:5] + other.encode() + record[5 + length :]
    if kind == "truncate":
        return record[: data.draw(st.integers(0, len(record) - 1))]
    return record + data.draw(st.binary(min_size=1, max_size=8))


@given(one_gateway_batches, st.data())
def test_decode_many_rejects_what_the_single_decoder_rejects(
    batch: list[ReadingRecord], data: st.DataObject
) -> None:
    encoded = [r.encode() for r in batch]
    indices = st.integers(0, len(encoded) - 1)
    for i in data.draw(st.lists(indices, min_size=1, max_size=3, unique=True)):
        encoded[i] = mutate(data, encoded[i])
    assert in_bulk(encoded) == one_by_one(encoded)


def test_decode_many_names_the_first_bad_record() -> None:
    encoded = [sample(device_seq=i).encode() for i in range(10)]
    for i in (3, 7):
        encoded[i] = encoded[i][:-17] + b"\x05" + encoded[i][-16:]
    with pytest.raises(BadRecord, match=r"^reading 3: record: time_kind 5 is invalid") as err:
        decode_many(*packed(encoded))
    assert err.value.index == 3
    assert isinstance(err.value, FormatError)


def test_uniform_batch_takes_the_single_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid one-gateway batch never falls back to decoding record by record."""

    def refuse(*_args: object) -> RecordColumns:
        raise AssertionError("fell back to the one-by-one decoder")

    monkeypatch.setattr(record, "_decode_one_by_one", refuse)
    batch = [sample(device_seq=i, time_kind=i % 2, gateway_time_us=i) for i in range(300)]
    assert decode_many(*packed([r.encode() for r in batch])).records() == batch


def test_decode_many_reads_a_window_of_the_buffer() -> None:
    batch = [sample(device_seq=i) for i in range(5)]
    encoded = [r.encode() for r in batch]
    buf, offsets = packed(encoded)
    shifted = tuple(o + 3 for o in offsets)
    assert decode_many(b"xyz" + buf + b"tail", shifted).records() == batch
    assert decode_many(b"", (0,)) == RecordColumns.of([])


def test_decode_many_empty_records() -> None:
    with pytest.raises(BadRecord, match="reading 0: record: truncated in tag"):
        decode_many(b"", (0, 0, 0))
