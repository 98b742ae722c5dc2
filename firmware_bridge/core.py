"""Thin bindings over the C reference (cffi module ``firmware_bridge._fbcore``).

The simulator runs the device side through these, so the C that a sensor would
flash is what talks to the Python gateway in tests. Callers get bytes, ints and
``Frame``/``Reading`` objects, never cffi objects.
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    from edgeseal.firmware_bridge._fbcore import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "firmware_bridge's C core (edgeseal.firmware_bridge._fbcore) is not built: run "
        "./scripts/test (a development venv) or 'python3 setup.py build_ext --inplace'"
    ) from exc
from edgeseal.firmware_bridge.frame import DROP_REASONS, Frame
from edgeseal.firmware_bridge.messages import Reading


class CoreError(RuntimeError):
    """The C reference rejected its input (a return code of -1)."""


def crc32c(data: bytes, crc: int = 0) -> int:
    return int(lib.fb_crc32c(crc, data, len(data)))


def cobs_encode(data: bytes) -> bytes:
    out = ffi.new("uint8_t[]", len(data) + len(data) // 254 + 2)
    n = ffi.new("size_t *")
    if lib.fb_cobs_encode(data, len(data), out, len(out), n) != 0:
        raise CoreError("fb_cobs_encode failed")
    return bytes(ffi.buffer(out, n[0]))


def cobs_decode(data: bytes) -> bytes | None:
    """None where the Python codec raises CobsError."""
    out = ffi.new("uint8_t[]", max(1, len(data)))
    n = ffi.new("size_t *")
    if lib.fb_cobs_decode(data, len(data), out, len(out), n) != 0:
        return None
    return bytes(ffi.buffer(out, n[0]))


def _fill(cf: object, frame: Frame) -> None:
    cf.version = frame.version  # type: ignore[attr-defined]
    cf.type = frame.type  # type: ignore[attr-defined]
    cf.flags = frame.flags  # type: ignore[attr-defined]
    cf.device_id = frame.device_id  # type: ignore[attr-defined]
    cf.boot_id = frame.boot_id  # type: ignore[attr-defined]
    cf.seq = frame.seq  # type: ignore[attr-defined]
    cf.payload_len = len(frame.payload)  # type: ignore[attr-defined]
    ffi.memmove(cf.payload, frame.payload, len(frame.payload))  # type: ignore[attr-defined]
    cf.auth_counter = frame.auth_counter  # type: ignore[attr-defined]
    ffi.memmove(cf.auth_tag, frame.auth_tag.ljust(8, b"\0"), 8)  # type: ignore[attr-defined]


def _frame_of(cf: object) -> Frame:
    c = cf  # cffi struct
    flags = int(c.flags)  # type: ignore[attr-defined]
    auth = bool(flags & 1)
    return Frame(
        type=int(c.type),  # type: ignore[attr-defined]
        device_id=int(c.device_id),  # type: ignore[attr-defined]
        boot_id=int(c.boot_id),  # type: ignore[attr-defined]
        seq=int(c.seq),  # type: ignore[attr-defined]
        payload=bytes(ffi.buffer(c.payload, c.payload_len)),  # type: ignore[attr-defined]
        flags=flags,
        auth_counter=int(c.auth_counter) if auth else 0,  # type: ignore[attr-defined]
        auth_tag=bytes(ffi.buffer(c.auth_tag, 8)) if auth else b"",  # type: ignore[attr-defined]
        version=int(c.version),  # type: ignore[attr-defined]
    )


def pack_frame(frame: Frame) -> bytes:
    cf = ffi.new("fb_frame *")
    _fill(cf, frame)
    out = ffi.new("uint8_t[]", lib.FB_MAX_FRAME)
    n = ffi.new("size_t *")
    if lib.fb_frame_pack(cf, out, len(out), n) != 0:
        raise CoreError("fb_frame_pack rejected the frame")
    return bytes(ffi.buffer(out, n[0]))


def unpack_frame(raw: bytes) -> Frame | None:
    cf = ffi.new("fb_frame *")
    if lib.fb_frame_unpack(raw, len(raw), cf) != 0:
        return None
    return _frame_of(cf)


def encode_frame(frame: Frame) -> bytes:
    cf = ffi.new("fb_frame *")
    _fill(cf, frame)
    out = ffi.new("uint8_t[]", lib.FB_MAX_ENCODED)
    n = ffi.new("size_t *")
    if lib.fb_frame_encode(cf, out, len(out), n) != 0:
        raise CoreError("fb_frame_encode rejected the frame")
    return bytes(ffi.buffer(out, n[0]))


def sign_frame(frame: Frame, key: bytes, counter: int) -> Frame:
    """The frame made authenticated by the C reference (fb_frame_sign)."""
    cf = ffi.new("fb_frame *")
    _fill(cf, frame)
    if lib.fb_frame_sign(cf, key, len(key), counter) != 0:
        raise CoreError("fb_frame_sign rejected the frame or key")
    return _frame_of(cf)


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    out = ffi.new("uint8_t[32]")
    if lib.fb_hmac_sha256(key, len(key), msg, len(msg), out) != 0:
        raise CoreError("fb_hmac_sha256 failed")
    return bytes(out)


def sha256(data: bytes) -> bytes:
    ctx = ffi.new("fb_sha256_ctx *")
    out = ffi.new("uint8_t[32]")
    lib.fb_sha256_init(ctx)
    lib.fb_sha256_update(ctx, data, len(data))
    lib.fb_sha256_final(ctx, out)
    return bytes(out)


def _c_reading(r: Reading) -> object:
    cr = ffi.new("fb_reading *")
    cr.channel, cr.unit, cr.mantissa = r.channel, r.unit, r.mantissa
    cr.exponent, cr.time_kind, cr.device_time_ms = r.exponent, r.time_kind, r.device_time_ms
    return cr


def pack_reading(r: Reading) -> bytes:
    out = ffi.new("uint8_t[]", lib.FB_READING_LEN)
    n = ffi.new("size_t *")
    if lib.fb_reading_pack(_c_reading(r), out, len(out), n) != 0:
        raise CoreError("fb_reading_pack failed")
    return bytes(ffi.buffer(out, n[0]))


@dataclass(frozen=True, slots=True)
class RingReading:
    """A reading as the ring holds it (no ids: those belong to the device and boot)."""

    channel: int
    unit: int
    mantissa: int
    exponent: int
    time_kind: int
    device_time_ms: int

    def payload(self) -> bytes:
        cr = ffi.new("fb_reading *")
        cr.channel, cr.unit, cr.mantissa = self.channel, self.unit, self.mantissa
        cr.exponent, cr.time_kind, cr.device_time_ms = (
            self.exponent,
            self.time_kind,
            self.device_time_ms,
        )
        out = ffi.new("uint8_t[]", lib.FB_READING_LEN)
        n = ffi.new("size_t *")
        if lib.fb_reading_pack(cr, out, len(out), n) != 0:
            raise CoreError("fb_reading_pack failed")
        return bytes(ffi.buffer(out, n[0]))


class Ring:
    """The device's retransmit ring (fb_ring), FB_RING_SLOTS readings."""

    SLOTS = int(lib.FB_RING_SLOTS)

    def __init__(self, first_seq: int = 1) -> None:
        self._r = ffi.new("fb_ring *")
        lib.fb_ring_init(self._r, first_seq)
        self._tmp = ffi.new("fb_reading *")
        self._seq = ffi.new("uint32_t *")

    def push(self, rd: RingReading, overwrite: bool = False) -> int | None:
        t = self._tmp
        t.channel, t.unit, t.mantissa = rd.channel, rd.unit, rd.mantissa
        t.exponent, t.time_kind, t.device_time_ms = rd.exponent, rd.time_kind, rd.device_time_ms
        if lib.fb_ring_push(self._r, t, 1 if overwrite else 0, self._seq) != 0:
            return None
        return int(self._seq[0])

    def ack(self, seq: int) -> int:
        """Readings released; -1 for an ACK of a seq never assigned."""
        return int(lib.fb_ring_ack(self._r, seq))

    def get(self, seq: int) -> RingReading | None:
        if lib.fb_ring_get(self._r, seq, self._tmp) != 0:
            return None
        t = self._tmp
        return RingReading(t.channel, t.unit, t.mantissa, t.exponent, t.time_kind, t.device_time_ms)

    @property
    def count(self) -> int:
        return int(self._r.count)

    @property
    def oldest_seq(self) -> int:
        return int(self._r.oldest_seq)

    @property
    def next_seq(self) -> int:
        return int(self._r.next_seq)

    @property
    def overwritten(self) -> int:
        return int(self._r.overwritten)


class Decoder:
    """The C streaming decoder (fb_decoder_feed)."""

    def __init__(self) -> None:
        self._d = ffi.new("fb_decoder *")
        lib.fb_decoder_init(self._d)
        self._f = ffi.new("fb_frame *")
        self._used = ffi.new("size_t *")

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        buf = ffi.from_buffer(data)
        offset, n = 0, len(data)
        while offset < n:
            rc = lib.fb_decoder_feed(self._d, buf + offset, n - offset, self._used, self._f)
            if rc < 0:
                raise CoreError("fb_decoder_feed failed")
            offset += int(self._used[0])
            if rc == 1:
                frames.append(_frame_of(self._f))
        return frames

    @property
    def frames(self) -> int:
        return int(self._d.frames)

    @property
    def dropped(self) -> dict[str, int]:
        return {name: int(self._d.dropped[i]) for i, name in enumerate(DROP_REASONS)}
