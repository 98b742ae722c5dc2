"""Signed device events: the second record kind a batch may hold (docs/formats.md).

An event record is sealed exactly like a reading record: leaf ``record || signature``,
the record signed by the gateway key. Its context tag ``ESE`` (edgeseal event) keeps
it apart from readings (``ESR``), batch headers and everything else the key signs.
Events say what the readings alone cannot: that a device booted, that readings were
lost for good and why, that the agent applied back-pressure, started or stopped.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from edgeseal.wire.record import (
    FormatError,
    check_gateway_id,
    check_tag,
    decode_gateway_id,
    encode_str8,
)

EVENT_TAG = b"ESE\x01"

_HEAD = struct.Struct(">BQ")  # kind, gateway_time_us
_BOOT = struct.Struct(">IIIB")  # device_id, boot_id, first_seq, flags
_LOSS = struct.Struct(">IIIIB")  # device_id, boot_id, first_seq, last_seq, reason
_FLAG = struct.Struct(">B")  # back-pressure on/off

BOOT_FLAG_KEY = 0x01  # a 32-byte device public key follows the firmware version
BOOT_FLAG_INFERRED = 0x02  # learnt from a later boot's HELLO (the device's previous boot)
_BOOT_FLAGS = BOOT_FLAG_KEY | BOOT_FLAG_INFERRED
DEVICE_KEY_LEN = 32
_U32 = 2**32 - 1
_U64 = 2**64 - 1


class EventKind(IntEnum):
    DEVICE_BOOT = 1
    READINGS_LOST = 2
    BACKPRESSURE = 3
    AGENT_START = 4
    AGENT_STOP = 5


class LossReason(IntEnum):
    """Why readings are lost for good; the value is the byte on the wire."""

    DEVICE_OVERFLOW = 1  # the device's ring overwrote them before they were sent
    REBOOTED = 2  # the device rebooted before sending them
    LINK_DOWN = 3  # overwritten on the device while its serial link was down
    GATEWAY_POLICY = 4  # the gateway dropped them (outbox on_full = drop-oldest, TTL)

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class DeviceBoot:
    device_id: int
    boot_id: int
    first_seq: int  # the oldest seq the device held when it announced this boot
    firmware_version: str
    device_public_key: bytes | None = None
    inferred: bool = False  # only known from the next boot's HELLO: firmware unknown


@dataclass(frozen=True)
class ReadingsLost:
    device_id: int
    boot_id: int
    first_seq: int
    last_seq: int  # inclusive
    reason: LossReason


@dataclass(frozen=True)
class Backpressure:
    on: bool
    detail: str


@dataclass(frozen=True)
class AgentStart:
    version: str


@dataclass(frozen=True)
class AgentStop:
    detail: str


EventBody = DeviceBoot | ReadingsLost | Backpressure | AgentStart | AgentStop

_KIND_OF: dict[type, EventKind] = {
    DeviceBoot: EventKind.DEVICE_BOOT,
    ReadingsLost: EventKind.READINGS_LOST,
    Backpressure: EventKind.BACKPRESSURE,
    AgentStart: EventKind.AGENT_START,
    AgentStop: EventKind.AGENT_STOP,
}

MIN_EVENT_LEN = len(EVENT_TAG) + 2 + _HEAD.size + 1  # an agent stop with an empty detail
MAX_EVENT_LEN = len(EVENT_TAG) + 65 + _HEAD.size + _BOOT.size + 256 + DEVICE_KEY_LEN


def _u32(name: str, value: int, low: int = 0) -> None:
    if type(value) is not int or not low <= value <= _U32:
        raise ValueError(f"{name}={value!r} is out of range [{low}, 2^32-1]")


def _text8(name: str, text: str) -> bytes:
    """A str8 of UTF-8 text, cut at 255 bytes on a character boundary (details are prose)."""
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raw = raw[:255].decode("utf-8", "ignore").encode("utf-8")
    return encode_str8(name, raw)


def _body_bytes(body: EventBody) -> bytes:
    match body:
        case DeviceBoot():
            _u32("device_id", body.device_id)
            _u32("boot_id", body.boot_id)
            _u32("first_seq", body.first_seq)
            key = body.device_public_key
            if key is not None and len(key) != DEVICE_KEY_LEN:
                raise ValueError(f"device_public_key is {len(key)} bytes, not {DEVICE_KEY_LEN}")
            flags = (BOOT_FLAG_KEY if key is not None else 0) | (
                BOOT_FLAG_INFERRED if body.inferred else 0
            )
            fw = body.firmware_version.encode("utf-8")
            return (
                _BOOT.pack(body.device_id, body.boot_id, body.first_seq, flags)
                + encode_str8("firmware_version", fw)
                + (key or b"")
            )
        case ReadingsLost():
            _u32("device_id", body.device_id)
            _u32("boot_id", body.boot_id)
            _u32("first_seq", body.first_seq, 1)
            _u32("last_seq", body.last_seq, body.first_seq)
            return _LOSS.pack(
                body.device_id,
                body.boot_id,
                body.first_seq,
                body.last_seq,
                LossReason(body.reason).value,
            )
        case Backpressure():
            return _FLAG.pack(1 if body.on else 0) + _text8("detail", body.detail)
        case AgentStart():
            return _text8("version", body.version)
        case AgentStop():
            return _text8("detail", body.detail)


@dataclass(frozen=True)
class EventRecord:
    """One event as the gateway signs it."""

    gateway_id: str
    gateway_time_us: int
    body: EventBody

    @property
    def kind(self) -> EventKind:
        return _KIND_OF[type(self.body)]

    def encode(self) -> bytes:
        """The record bytes; raises ValueError naming the first bad field."""
        gateway = check_gateway_id(self.gateway_id)
        if type(self.gateway_time_us) is not int or not 0 <= self.gateway_time_us <= _U64:
            raise ValueError(f"gateway_time_us={self.gateway_time_us!r} is out of range")
        return (
            EVENT_TAG
            + bytes((len(gateway),))
            + gateway
            + _HEAD.pack(self.kind.value, self.gateway_time_us)
            + _body_bytes(self.body)
        )

    @classmethod
    def decode(cls, data: bytes) -> EventRecord:
        """Parse event record bytes; raises FormatError naming the field at fault."""
        what = "event"
        data = bytes(data)
        check_tag(data, EVENT_TAG, what)
        gateway_id, offset = decode_gateway_id(data, len(EVENT_TAG), what)
        if len(data) - offset < _HEAD.size:
            raise FormatError(f"{what}: truncated in kind/gateway_time_us")
        kind_byte, time_us = _HEAD.unpack_from(data, offset)
        offset += _HEAD.size
        try:
            kind = EventKind(kind_byte)
        except ValueError:
            raise FormatError(f"{what}: unknown kind {kind_byte} (1 to 5)") from None
        body, offset = _decode_body(kind, data, offset)
        if offset != len(data):
            raise FormatError(f"{what}: {len(data) - offset} trailing bytes after the body")
        return cls(gateway_id, time_us, body)


def _str8_at(data: bytes, offset: int, field: str) -> tuple[str, int]:
    if offset >= len(data):
        raise FormatError(f"event: truncated in {field}")
    end = offset + 1 + data[offset]
    if end > len(data):
        raise FormatError(f"event: truncated in {field}")
    try:
        return data[offset + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise FormatError(f"event: {field} is not UTF-8") from None


def _fixed(data: bytes, offset: int, layout: struct.Struct, field: str) -> tuple[int, ...]:
    if len(data) - offset < layout.size:
        raise FormatError(f"event: truncated in {field}")
    return layout.unpack_from(data, offset)


def _decode_body(kind: EventKind, data: bytes, offset: int) -> tuple[EventBody, int]:
    if kind is EventKind.DEVICE_BOOT:
        device_id, boot_id, first_seq, flags = _fixed(data, offset, _BOOT, "device boot")
        if flags & ~_BOOT_FLAGS:
            raise FormatError(f"event: device boot flags 0x{flags:02x} has unknown bits set")
        firmware, offset = _str8_at(data, offset + _BOOT.size, "firmware_version")
        key: bytes | None = None
        if flags & BOOT_FLAG_KEY:
            if len(data) - offset < DEVICE_KEY_LEN:
                raise FormatError("event: truncated in device_public_key")
            key = data[offset : offset + DEVICE_KEY_LEN]
            offset += DEVICE_KEY_LEN
        inferred = bool(flags & BOOT_FLAG_INFERRED)
        return DeviceBoot(device_id, boot_id, first_seq, firmware, key, inferred), offset
    if kind is EventKind.READINGS_LOST:
        device_id, boot_id, first, last, reason = _fixed(data, offset, _LOSS, "readings lost")
        if first < 1 or last < first:
            raise FormatError(f"event: loss range {first}..{last} is empty or starts below 1")
        try:
            why = LossReason(reason)
        except ValueError:
            raise FormatError(f"event: unknown loss reason {reason} (1 to 4)") from None
        return ReadingsLost(device_id, boot_id, first, last, why), offset + _LOSS.size
    if kind is EventKind.BACKPRESSURE:
        (on,) = _fixed(data, offset, _FLAG, "back-pressure state")
        if on not in (0, 1):
            raise FormatError(f"event: back-pressure state {on} is not 0 or 1")
        detail, offset = _str8_at(data, offset + 1, "detail")
        return Backpressure(bool(on), detail), offset
    if kind is EventKind.AGENT_START:
        version, offset = _str8_at(data, offset, "version")
        return AgentStart(version), offset
    detail, offset = _str8_at(data, offset, "detail")
    return AgentStop(detail), offset


def is_event(record: bytes) -> bool:
    """True if the record bytes carry the event tag (any version: the decoder says which)."""
    return record[:3] == EVENT_TAG[:3]


@dataclass(frozen=True)
class LeafSplit:
    """A batch's leaves sorted by kind: readings (their leaf indices) and decoded events."""

    reading_indices: tuple[int, ...]
    reading_records: bytes  # the reading records concatenated, in leaf order
    reading_offsets: tuple[int, ...]
    events: tuple[tuple[int, EventRecord], ...]  # (leaf index, event)


def split_leaves(records: bytes, offsets: Sequence[int]) -> LeafSplit | None:
    """Separate events from readings; None when the batch holds readings only (the
    usual case, recognised without touching the records one by one).

    Event leaves are found by searching the buffer for their tag and keeping the hits
    that start a record (few: events are rare), so the readings stay in a handful of
    contiguous runs that keep ``decode_many``'s fast path. Raises ``FormatError``
    naming the leaf of an event that does not decode.
    """
    n = len(offsets) - 1
    context = EVENT_TAG[:3]
    found = records.find(context, offsets[0] if n >= 1 else 0)
    if n < 1 or found < 0:
        return None
    event_indices: list[int] = []
    while 0 <= found < offsets[n]:
        i = bisect.bisect_left(offsets, found, 0, n)
        if i < n and offsets[i] == found:
            event_indices.append(i)
        found = records.find(context, found + 1)
    if not event_indices:
        return None
    events: list[tuple[int, EventRecord]] = []
    for i in event_indices:
        try:
            events.append((i, EventRecord.decode(records[offsets[i] : offsets[i + 1]])))
        except FormatError as exc:
            raise FormatError(f"leaf {i}: {exc}") from None
    parts: list[bytes] = []
    reading_indices: list[int] = []
    reading_offsets = [0]
    start = 0
    for stop in [*event_indices, n]:
        if stop > start:  # leaves start..stop-1 are readings, one contiguous run
            base, shift = reading_offsets[-1], offsets[start]
            parts.append(records[shift : offsets[stop]])
            reading_indices.extend(range(start, stop))
            reading_offsets.extend(o - shift + base for o in offsets[start + 1 : stop + 1])
        start = stop + 1
    return LeafSplit(tuple(reading_indices), b"".join(parts), tuple(reading_offsets), tuple(events))
