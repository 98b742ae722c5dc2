"""Frames on the serial line: pack/unpack, COBS framing and the streaming decoder.

Same layout and rules as firmware_bridge/c/fb_frame.c (docs/serial-protocol.md):

    version u8 | type u8 | flags u8 | device_id u32 | boot_id u32 | seq u32 |
    payload | [auth_counter u64 | auth_tag 8 bytes] | CRC-32C u32      (little-endian)

stuffed with COBS and terminated by one 0x00.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from edgeseal.firmware_bridge.cobs import CobsError, cobs_decode, cobs_encode
from edgeseal.firmware_bridge.crc import crc32c

PROTOCOL_VERSION = 1
HEADER_LEN = 15
CRC_LEN = 4
AUTH_LEN = 16
MAX_PAYLOAD = 200
MAX_FRAME = HEADER_LEN + MAX_PAYLOAD + AUTH_LEN + CRC_LEN  # 235, unstuffed
MAX_ENCODED = MAX_FRAME + 1 + 1  # one COBS code byte (frames < 254 bytes) + delimiter
FLAG_AUTH = 0x01

_HEADER = struct.Struct("<BBBIII")
_CRC = struct.Struct("<I")
_AUTH_COUNTER = struct.Struct("<Q")


class FrameError(ValueError):
    """A frame failed a structural check; ``reason`` names which (for counters)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    device_id: int
    boot_id: int
    seq: int
    payload: bytes = b""
    flags: int = 0
    auth_counter: int = 0
    auth_tag: bytes = b""
    version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        if len(self.payload) > MAX_PAYLOAD:
            raise FrameError(
                "too_long", f"payload of {len(self.payload)} bytes exceeds {MAX_PAYLOAD}"
            )
        if self.flags & ~FLAG_AUTH:
            raise FrameError("flags", f"unknown flag bits 0x{self.flags:02x}")
        if self.flags & FLAG_AUTH and len(self.auth_tag) != 8:
            raise FrameError("flags", "an authenticated frame needs an 8-byte auth_tag")

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & FLAG_AUTH)

    def signed_part(self) -> bytes:
        """The bytes an auth tag covers: header, payload and the counter."""
        head = _HEADER.pack(
            self.version, self.type, self.flags, self.device_id, self.boot_id, self.seq
        )
        return head + self.payload + _AUTH_COUNTER.pack(self.auth_counter)


def pack_frame(frame: Frame) -> bytes:
    """Unstuffed frame bytes including the CRC."""
    body = (
        _HEADER.pack(
            frame.version, frame.type, frame.flags, frame.device_id, frame.boot_id, frame.seq
        )
        + frame.payload
    )
    if frame.flags & FLAG_AUTH:
        body += _AUTH_COUNTER.pack(frame.auth_counter) + frame.auth_tag
    return body + _CRC.pack(crc32c(body))


def unpack_frame(raw: bytes) -> Frame:
    """Checks length, CRC, version and flags (in that order, like the C decoder)."""
    n = len(raw)
    if n < HEADER_LEN + CRC_LEN:
        raise FrameError("short", f"frame of {n} bytes is shorter than header + CRC")
    if n > MAX_FRAME:
        raise FrameError("too_long", f"frame of {n} bytes exceeds {MAX_FRAME}")
    body = raw[: n - CRC_LEN]
    (expected,) = _CRC.unpack_from(raw, n - CRC_LEN)
    if crc32c(body) != expected:
        raise FrameError("crc", "CRC-32C mismatch")
    version, mtype, flags, device_id, boot_id, seq = _HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise FrameError("version", f"unsupported protocol version {version}")
    if flags & ~FLAG_AUTH:
        raise FrameError("flags", f"unknown flag bits 0x{flags:02x}")
    if flags & FLAG_AUTH:
        if len(body) < HEADER_LEN + AUTH_LEN:
            raise FrameError("short", "authenticated frame too short for its auth block")
        auth = body[len(body) - AUTH_LEN :]
        (counter,) = _AUTH_COUNTER.unpack_from(auth)
        return Frame(
            mtype,
            device_id,
            boot_id,
            seq,
            bytes(body[HEADER_LEN : len(body) - AUTH_LEN]),
            flags,
            counter,
            bytes(auth[8:]),
            version,
        )
    return Frame(mtype, device_id, boot_id, seq, bytes(body[HEADER_LEN:]), flags, 0, b"", version)


def encode_frame(frame: Frame) -> bytes:
    """The bytes to write to the line: COBS(pack_frame(frame)) + 0x00."""
    return cobs_encode(pack_frame(frame)) + b"\x00"


DROP_REASONS = ("cobs", "too_long", "short", "crc", "version", "flags")


@dataclass
class FrameDecoder:
    """Streaming decoder: bytes in, valid frames out; garbage is counted and skipped.

    Resynchronises at every 0x00, never yields a frame whose CRC fails, and keeps
    at most ``MAX_ENCODED`` bytes of a partial frame (longer runs are dropped
    whole at their next delimiter).
    """

    frames: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    _partial: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[Frame]:
        chunks = bytes(data).split(b"\x00")
        # Every chunk except the last is terminated by a delimiter.
        for i, chunk in enumerate(chunks):
            if i == len(chunks) - 1:
                self._append(chunk)
                break
            self._append(chunk)
            frame = self._finish()
            if frame is not None:
                yield frame

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        if len(self._partial) + len(chunk) > MAX_ENCODED - 1:
            self._overflow = True
            self._partial.clear()
            return
        self._partial += chunk

    def _finish(self) -> Frame | None:
        if self._overflow:
            self._overflow = False
            self.dropped["too_long"] += 1
            return None
        if not self._partial:
            return None  # back-to-back delimiters are idle filler, not errors
        stuffed = bytes(self._partial)
        self._partial.clear()
        try:
            frame = unpack_frame(cobs_decode(stuffed))
        except CobsError:
            self.dropped["cobs"] += 1
            return None
        except FrameError as exc:
            self.dropped[exc.reason] += 1
            return None
        self.frames += 1
        return frame
