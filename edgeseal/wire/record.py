"""The canonical reading record: the exact bytes the gateway signs (docs/formats.md).

A record starts with its context tag and version (``ESR`` 0x01), so the signed
message is domain-separated from batch headers without copying anything. This
module is the only codec for the layout; the verifier imports it, so producer
and consumer cannot disagree.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields

RECORD_TAG = b"ESR\x01"
_TAG_CONTEXT = RECORD_TAG[:3]

# Gateway ids appear in MQTT topics, so they are restricted to a topic-safe set.
GATEWAY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Everything after the gateway id has a fixed size: one precompiled Struct.
_TAIL = struct.Struct(">IIIHHibBQQ")
_TAIL_FIELDS: tuple[tuple[str, int, int], ...] = (
    # (name, size in bytes, minimum value), in layout order; maxima follow from the size
    ("device_id", 4, 0),
    ("boot_id", 4, 0),
    ("device_seq", 4, 0),
    ("channel", 2, 0),
    ("unit", 2, 0),
    ("mantissa", 4, -(2**31)),
    ("exponent", 1, -128),
    ("time_kind", 1, 0),
    ("device_time_ms", 8, 0),
    ("gateway_time_us", 8, 0),
)
_RANGES: tuple[tuple[str, int, int], ...] = tuple(
    (name, low, low + 2 ** (8 * size) - 1) for name, size, low in _TAIL_FIELDS
)
TIME_KINDS = frozenset({0, 1})  # 0 = device uptime in ms, 1 = device UNIX time in ms

MIN_RECORD_LEN = len(RECORD_TAG) + 1 + 1 + _TAIL.size
MAX_RECORD_LEN = len(RECORD_TAG) + 1 + 64 + _TAIL.size


class FormatError(ValueError):
    """Bytes that do not follow docs/formats.md; the message names the offending field."""


def check_gateway_id(gateway_id: str) -> bytes:
    """Return the UTF-8 bytes of a valid gateway id, or raise ValueError saying why not."""
    if not isinstance(gateway_id, str) or GATEWAY_ID_RE.fullmatch(gateway_id) is None:
        raise ValueError(
            f"gateway_id {gateway_id!r} is invalid: use 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    return gateway_id.encode("ascii")


def encode_str8(field: str, raw: bytes) -> bytes:
    if len(raw) > 255:
        raise ValueError(f"{field} is {len(raw)} bytes; str8 holds at most 255")
    return bytes((len(raw),)) + raw


def decode_gateway_id(data: bytes, offset: int, what: str) -> tuple[str, int]:
    """Read a str8 gateway id at ``offset``; return it and the offset after it."""
    if offset >= len(data):
        raise FormatError(f"{what}: truncated in gateway_id (no length byte at offset {offset})")
    length = data[offset]
    end = offset + 1 + length
    if end > len(data):
        raise FormatError(
            f"{what}: truncated in gateway_id (needs {length} bytes, {len(data) - offset - 1} left)"
        )
    raw = bytes(data[offset + 1 : end])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{what}: gateway_id is not UTF-8 ({exc.reason})") from None
    if GATEWAY_ID_RE.fullmatch(text) is None:
        raise FormatError(
            f"{what}: gateway_id {text!r} is invalid (1 to 64 characters from A-Z a-z 0-9 _ -)"
        )
    return text, end


def check_tag(data: bytes, tag: bytes, what: str) -> None:
    if len(data) < len(tag):
        raise FormatError(f"{what}: truncated in tag ({len(data)} of {len(tag)} bytes)")
    got = bytes(data[: len(tag)])
    if got[:3] == tag[:3] and got != tag:
        raise FormatError(
            f"{what}: tag has unsupported version {got[3]} (this build reads version {tag[3]})"
        )
    if got != tag:
        raise FormatError(f"{what}: tag is {got!r}, expected {tag!r}")


def truncated_field(fields: tuple[tuple[str, int, int], ...], available: int) -> str:
    """Name the first fixed-size field that does not fit into ``available`` bytes."""
    used = 0
    for name, size, _low in fields:
        used += size
        if used > available:
            return name
    return fields[-1][0]


def decode_head(
    data: bytes,
    tag: bytes,
    what: str,
    tail: struct.Struct,
    tail_fields: tuple[tuple[str, int, int], ...],
) -> tuple[str, int]:
    """Check the tag and gateway id of a record or header and that its fixed tail fits.

    Returns (gateway_id, offset of the tail); raises FormatError naming the field.
    """
    check_tag(data, tag, what)
    gateway_id, offset = decode_gateway_id(data, len(tag), what)
    remaining = len(data) - offset
    if remaining < tail.size:
        field = truncated_field(tail_fields, remaining)
        raise FormatError(f"{what}: truncated in {field} ({remaining} bytes after gateway_id)")
    return gateway_id, offset


@dataclass(frozen=True)
class ReadingRecord:
    """One reading as the gateway signs it; field meanings are in docs/architecture.md."""

    gateway_id: str
    device_id: int
    boot_id: int
    device_seq: int
    channel: int
    unit: int
    mantissa: int
    exponent: int
    time_kind: int
    device_time_ms: int
    gateway_time_us: int

    def _tail_values(self) -> tuple[int, ...]:
        return (
            self.device_id,
            self.boot_id,
            self.device_seq,
            self.channel,
            self.unit,
            self.mantissa,
            self.exponent,
            self.time_kind,
            self.device_time_ms,
            self.gateway_time_us,
        )

    def encode(self) -> bytes:
        """The record bytes; raises ValueError naming the first out-of-range field."""
        gateway = check_gateway_id(self.gateway_id)
        values = self._tail_values()
        for (name, low, high), value in zip(_RANGES, values):
            if type(value) is not int or not low <= value <= high:
                # bool is an int subclass but never a meaningful field value
                raise ValueError(f"{name}={value!r} is out of range [{low}, {high}]")
        if self.time_kind not in TIME_KINDS:
            raise ValueError(f"time_kind={self.time_kind} is invalid: 0 (uptime ms) or 1 (UNIX ms)")
        return RECORD_TAG + bytes((len(gateway),)) + gateway + _TAIL.pack(*values)

    @classmethod
    def decode(cls, data: bytes) -> ReadingRecord:
        """Parse record bytes; raises FormatError naming the field at fault."""
        gateway_id, offset = decode_head(data, RECORD_TAG, "record", _TAIL, _TAIL_FIELDS)
        remaining = len(data) - offset
        if remaining > _TAIL.size:
            raise FormatError(
                f"record: {remaining - _TAIL.size} trailing bytes after gateway_time_us"
            )
        values = _TAIL.unpack_from(data, offset)
        if values[7] not in TIME_KINDS:
            raise FormatError(f"record: time_kind {values[7]} is invalid (0 or 1)")
        return cls(gateway_id, *values)


class RecordEncoder:
    """Encodes many records for one gateway: the hot path of the agent.

    The gateway id is checked once and its str8 prefix reused; each call packs
    the fixed tail after the same range checks ``ReadingRecord.encode`` makes.
    """

    __slots__ = ("_prefix",)

    def __init__(self, gateway_id: str) -> None:
        gateway = check_gateway_id(gateway_id)
        self._prefix = RECORD_TAG + bytes((len(gateway),)) + gateway

    def encode(
        self,
        *,
        device_id: int,
        boot_id: int,
        device_seq: int,
        channel: int,
        unit: int,
        mantissa: int,
        exponent: int,
        time_kind: int,
        device_time_ms: int,
        gateway_time_us: int,
    ) -> bytes:
        if time_kind not in TIME_KINDS:
            raise ValueError(f"time_kind={time_kind} is invalid: 0 (uptime ms) or 1 (UNIX ms)")
        values = (
            device_id,
            boot_id,
            device_seq,
            channel,
            unit,
            mantissa,
            exponent,
            time_kind,
            device_time_ms,
            gateway_time_us,
        )
        try:
            tail = _TAIL.pack(*values)
        except struct.error:
            # struct's message does not name the field; find it for the operator
            for (name, low, high), value in zip(_RANGES, values):
                if type(value) is not int or not low <= value <= high:
                    raise ValueError(f"{name}={value!r} is out of range [{low}, {high}]") from None
            raise
        return self._prefix + tail


class BadRecord(FormatError):
    """Record ``index`` of a batch does not decode; ``reason`` is the single decoder's message."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"reading {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class RecordColumns:
    """The decoded records of one batch, column-wise: one tuple per field, in record order.

    Field names and order are ``ReadingRecord``'s. Columns let the verifier take
    minima, sets and SQLite rows over a whole batch at C speed instead of touching
    one Python object per reading.
    """

    gateway_id: tuple[str, ...]
    device_id: tuple[int, ...]
    boot_id: tuple[int, ...]
    device_seq: tuple[int, ...]
    channel: tuple[int, ...]
    unit: tuple[int, ...]
    mantissa: tuple[int, ...]
    exponent: tuple[int, ...]
    time_kind: tuple[int, ...]
    device_time_ms: tuple[int, ...]
    gateway_time_us: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.gateway_id)

    def columns(self) -> tuple[tuple[object, ...], ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def record(self, index: int) -> ReadingRecord:
        return ReadingRecord(*(column[index] for column in self.columns()))  # type: ignore[arg-type]

    def records(self) -> list[ReadingRecord]:
        return [ReadingRecord(*values) for values in zip(*self.columns())]

    @classmethod
    def of(cls, records: Sequence[ReadingRecord]) -> RecordColumns:
        if not records:
            return cls((), (), (), (), (), (), (), (), (), (), ())
        rows = ((r.gateway_id, *r._tail_values()) for r in records)
        return cls(*zip(*rows))


def _decode_one_by_one(records: bytes, offsets: Sequence[int]) -> RecordColumns:
    """The general path: every record through ``ReadingRecord.decode``."""
    decoded: list[ReadingRecord] = []
    for i in range(len(offsets) - 1):
        try:
            decoded.append(ReadingRecord.decode(records[offsets[i] : offsets[i + 1]]))
        except FormatError as exc:
            raise BadRecord(i, str(exc)) from None
    return RecordColumns.of(decoded)


def decode_many(records: bytes, offsets: Sequence[int]) -> RecordColumns:
    """Decode records ``records[offsets[i]:offsets[i+1]]`` as ``ReadingRecord.decode`` does.

    Raises ``BadRecord`` naming the first record that does not decode, with the
    single decoder's message. In a valid batch every record names the header's
    gateway, so all records have one length and one prefix (tag and gateway id):
    that case is one ``iter_unpack`` pass over the buffer, with the prefixes and
    time kinds checked column-wise. Anything else (mixed lengths or prefixes, a bad
    time kind) takes the general path, which gives the same result by construction.
    """
    n = len(offsets) - 1
    if n < 1:
        return RecordColumns.of(())
    start, stride = offsets[0], offsets[1] - offsets[0]
    if stride < 1 or tuple(offsets) != tuple(range(start, start + (n + 1) * stride, stride)):
        return _decode_one_by_one(records, offsets)
    try:
        first = ReadingRecord.decode(records[start : start + stride])
    except FormatError as exc:
        raise BadRecord(0, str(exc)) from None
    prefix_len = stride - _TAIL.size  # the first record decoded: tag + str8 gateway id
    layout = struct.Struct(f">{prefix_len}s{_TAIL.format[1:]}")
    view = memoryview(records)[start : start + n * stride]
    prefixes, *tail = zip(*layout.iter_unpack(view))
    time_kinds = tail[7]
    if prefixes.count(records[start : start + prefix_len]) != n or not TIME_KINDS.issuperset(
        time_kinds
    ):
        return _decode_one_by_one(records, offsets)
    return RecordColumns((first.gateway_id,) * n, *tail)
