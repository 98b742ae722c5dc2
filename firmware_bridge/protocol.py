"""Typed messages of the serial protocol and their payload codecs.

One dataclass per message type (docs/serial-protocol.md, "Messages"); ``to_frame``
and ``message_from_frame`` convert between them and ``Frame``. Device -> gateway:
HELLO, READING, HEARTBEAT. Gateway -> device: ACK, RESEND, TIME.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from edgeseal.firmware_bridge.frame import Frame
from edgeseal.firmware_bridge.messages import U16_MAX, U32_MAX, U64_MAX, Reading


class MsgType(IntEnum):
    HELLO = 1
    READING = 2
    ACK = 3
    RESEND = 4
    HEARTBEAT = 5
    TIME = 6


CAP_AUTH = 0x0001
"""The device signs its frames (HMAC) and accepts signed gateway frames."""
CAP_TIME_SYNC = 0x0002
"""The device sets its clock from TIME and then sends time_kind 1 readings."""

READING_LEN = 18
_READING = struct.Struct("<HHiBBQ")  # exponent packed as u8, converted below
_HELLO = struct.Struct("<BBHHIIB")
_HEARTBEAT = struct.Struct("<IQ")
_RESEND = struct.Struct("<H")
_TIME = struct.Struct("<Q")


class MessageError(ValueError):
    """A frame with a valid CRC carries a payload that does not fit its type."""


@dataclass(frozen=True, slots=True)
class Hello:
    device_id: int
    boot_id: int
    first_seq: int
    """Oldest seq the device still holds or will send next (1 right after boot)."""
    fw_major: int
    fw_minor: int
    fw_patch: int
    capabilities: int
    prev_boot_id: int = 0
    """boot_id of the previous boot if the device kept it (noinit RAM), else 0."""
    prev_newest_seq: int = 0
    """Last seq assigned in the previous boot (0 if unknown): lets the gateway report
    readings that boot lost in the device's RAM."""
    public_key: bytes | None = None

    @property
    def firmware_version(self) -> str:
        return f"{self.fw_major}.{self.fw_minor}.{self.fw_patch}"


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """Gateway -> device: "announce yourself" (a HELLO frame with an empty payload)."""

    device_id: int
    boot_id: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    device_id: int
    boot_id: int
    newest_seq: int
    """Last seq the device assigned (0: none yet this boot)."""
    oldest_held: int
    """Oldest seq still in the device's ring (newest_seq + 1 when the ring is empty)."""
    uptime_ms: int


@dataclass(frozen=True, slots=True)
class Ack:
    device_id: int
    boot_id: int
    seq: int


@dataclass(frozen=True, slots=True)
class Resend:
    device_id: int
    boot_id: int
    seq: int
    count: int


@dataclass(frozen=True, slots=True)
class TimeSync:
    device_id: int
    boot_id: int
    unix_ms: int


Message = Hello | HelloRequest | Reading | Heartbeat | Ack | Resend | TimeSync


def pack_reading_payload(r: Reading) -> bytes:
    return _READING.pack(
        r.channel, r.unit, r.mantissa, r.exponent & 0xFF, r.time_kind, r.device_time_ms
    )


def _unpack_reading(frame: Frame) -> Reading:
    if len(frame.payload) != READING_LEN:
        raise MessageError(f"READING payload is {len(frame.payload)} bytes, expected {READING_LEN}")
    channel, unit, mantissa, exponent, time_kind, time_ms = _READING.unpack(frame.payload)
    if time_kind > 1:
        raise MessageError(f"READING time_kind {time_kind} is not 0 (uptime) or 1 (UNIX)")
    if exponent > 127:
        exponent -= 256
    return Reading(
        frame.device_id,
        frame.boot_id,
        frame.seq,
        channel,
        unit,
        mantissa,
        exponent,
        time_kind,
        time_ms,
    )


def to_frame(msg: Message) -> Frame:
    """The unauthenticated frame for ``msg`` (sign it with firmware_bridge.auth if needed)."""
    if isinstance(msg, Reading):
        return Frame(
            MsgType.READING, msg.device_id, msg.boot_id, msg.seq, pack_reading_payload(msg)
        )
    if isinstance(msg, Hello):
        key = msg.public_key or b""
        if len(key) > 64:
            raise MessageError("HELLO public key longer than 64 bytes")
        payload = (
            _HELLO.pack(
                msg.fw_major,
                msg.fw_minor,
                msg.fw_patch,
                msg.capabilities,
                msg.prev_boot_id,
                msg.prev_newest_seq,
                len(key),
            )
            + key
        )
        return Frame(MsgType.HELLO, msg.device_id, msg.boot_id, msg.first_seq, payload)
    if isinstance(msg, HelloRequest):
        return Frame(MsgType.HELLO, msg.device_id, msg.boot_id, 0)
    if isinstance(msg, Heartbeat):
        return Frame(
            MsgType.HEARTBEAT,
            msg.device_id,
            msg.boot_id,
            msg.newest_seq,
            _HEARTBEAT.pack(msg.oldest_held, msg.uptime_ms),
        )
    if isinstance(msg, Ack):
        return Frame(MsgType.ACK, msg.device_id, msg.boot_id, msg.seq)
    if isinstance(msg, Resend):
        if not 1 <= msg.count <= U16_MAX:
            raise MessageError(f"RESEND count {msg.count} outside 1..{U16_MAX}")
        return Frame(MsgType.RESEND, msg.device_id, msg.boot_id, msg.seq, _RESEND.pack(msg.count))
    if isinstance(msg, TimeSync):
        if not 0 <= msg.unix_ms <= U64_MAX:
            raise MessageError("TIME unix_ms outside u64")
        return Frame(MsgType.TIME, msg.device_id, msg.boot_id, 0, _TIME.pack(msg.unix_ms))
    raise TypeError(f"not a protocol message: {type(msg).__name__}")


def _expect_len(frame: Frame, name: str, size: int) -> None:
    if len(frame.payload) != size:
        raise MessageError(f"{name} payload is {len(frame.payload)} bytes, expected {size}")


def message_from_frame(frame: Frame) -> Message:
    """Decode a CRC-checked frame; raises MessageError for unknown types or bad payloads."""
    t = frame.type
    if t == MsgType.READING:
        return _unpack_reading(frame)
    if t == MsgType.HELLO:
        if not frame.payload:
            return HelloRequest(frame.device_id, frame.boot_id)
        if len(frame.payload) < _HELLO.size:
            raise MessageError(
                f"HELLO payload is {len(frame.payload)} bytes, need >= {_HELLO.size}"
            )
        major, minor, patch, caps, prev_boot, prev_newest, key_len = _HELLO.unpack_from(
            frame.payload
        )
        key = frame.payload[_HELLO.size :]
        if len(key) != key_len:
            raise MessageError(f"HELLO says key_len {key_len} but carries {len(key)} key bytes")
        return Hello(
            frame.device_id,
            frame.boot_id,
            frame.seq,
            major,
            minor,
            patch,
            caps,
            prev_boot,
            prev_newest,
            bytes(key) if key else None,
        )
    if t == MsgType.HEARTBEAT:
        _expect_len(frame, "HEARTBEAT", _HEARTBEAT.size)
        oldest, uptime = _HEARTBEAT.unpack(frame.payload)
        return Heartbeat(frame.device_id, frame.boot_id, frame.seq, oldest, uptime)
    if t == MsgType.ACK:
        _expect_len(frame, "ACK", 0)
        return Ack(frame.device_id, frame.boot_id, frame.seq)
    if t == MsgType.RESEND:
        _expect_len(frame, "RESEND", _RESEND.size)
        (count,) = _RESEND.unpack(frame.payload)
        if count == 0:
            raise MessageError("RESEND count is 0")
        return Resend(frame.device_id, frame.boot_id, frame.seq, count)
    if t == MsgType.TIME:
        _expect_len(frame, "TIME", _TIME.size)
        (unix_ms,) = _TIME.unpack(frame.payload)
        return TimeSync(frame.device_id, frame.boot_id, unix_ms)
    raise MessageError(f"unknown message type {t}")


__all__ = [
    "CAP_AUTH",
    "CAP_TIME_SYNC",
    "U32_MAX",
    "Ack",
    "Heartbeat",
    "Hello",
    "HelloRequest",
    "Message",
    "MessageError",
    "MsgType",
    "Resend",
    "TimeSync",
    "message_from_frame",
    "pack_reading_payload",
    "to_frame",
]
