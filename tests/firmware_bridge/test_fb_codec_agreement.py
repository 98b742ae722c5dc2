"""Python and C codecs agree byte for byte, in both directions, on random messages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseal.firmware_bridge import core
from edgeseal.firmware_bridge import crc as pycrc
from edgeseal.firmware_bridge.cobs import CobsError, cobs_decode, cobs_encode
from edgeseal.firmware_bridge.frame import (
    FLAG_AUTH,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
    pack_frame,
    unpack_frame,
)
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import (
    Ack,
    Heartbeat,
    Hello,
    Resend,
    TimeSync,
    message_from_frame,
    to_frame,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 2**64 - 1)

readings = st.builds(
    Reading,
    device_id=u32,
    boot_id=u32,
    seq=u32,
    channel=u16,
    unit=u16,
    mantissa=st.integers(-(2**31), 2**31 - 1),
    exponent=st.integers(-128, 127),
    time_kind=st.integers(0, 1),
    device_time_ms=u64,
)
messages = st.one_of(
    readings,
    st.builds(
        Hello,
        u32,
        u32,
        u32,
        u8,
        u8,
        u16,
        u16,
        u32,
        u32,
        st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
    ),
    st.builds(Heartbeat, u32, u32, u32, u32, u64),
    st.builds(Ack, u32, u32, u32),
    st.builds(Resend, u32, u32, u32, st.integers(1, 0xFFFF)),
    st.builds(TimeSync, u32, u32, u64),
)
frames = st.builds(
    Frame,
    type=u8,
    device_id=u32,
    boot_id=u32,
    seq=u32,
    payload=st.binary(max_size=MAX_PAYLOAD),
)


@st.composite
def any_frames(draw: st.DrawFn) -> Frame:
    f = draw(frames)
    if draw(st.booleans()):
        return Frame(
            f.type,
            f.device_id,
            f.boot_id,
            f.seq,
            f.payload,
            FLAG_AUTH,
            draw(u64),
            draw(st.binary(min_size=8, max_size=8)),
        )
    return f


def test_crc32c_check_values() -> None:
    assert pycrc.crc32c(b"123456789") == 0xE3069283
    assert core.crc32c(b"123456789") == 0xE3069283
    assert pycrc.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4


@given(st.binary(max_size=2000), st.binary(max_size=50))
def test_crc_agrees_and_chains(data: bytes, more: bytes) -> None:
    assert pycrc.crc32c(data) == core.crc32c(data)
    assert pycrc.crc32c(more, pycrc.crc32c(data)) == pycrc.crc32c(data + more)


@given(st.binary(max_size=1200) | st.lists(st.sampled_from([0, 1, 255]), max_size=800).map(bytes))
def test_cobs_agrees(data: bytes) -> None:
    stuffed = cobs_encode(data)
    assert stuffed == core.cobs_encode(data)
    assert 0 not in stuffed
    assert cobs_decode(stuffed) == data == core.cobs_decode(stuffed)


@given(st.binary(max_size=600))
def test_cobs_decoders_accept_and_reject_the_same_inputs(data: bytes) -> None:
    try:
        py = cobs_decode(data)
    except CobsError:
        py = None
    assert py == core.cobs_decode(data)


@given(messages)
def test_message_python_encoder_matches_c_encoder(msg: object) -> None:
    frame = to_frame(msg)  # type: ignore[arg-type]
    wire = encode_frame(frame)
    assert wire == core.encode_frame(frame)
    assert pack_frame(frame) == core.pack_frame(frame)


@given(messages)
def test_c_encoded_messages_decode_in_python_and_back(msg: object) -> None:
    frame = to_frame(msg)  # type: ignore[arg-type]
    c_wire = core.encode_frame(frame)
    (decoded,) = list(FrameDecoder().feed(c_wire))
    assert message_from_frame(decoded) == msg
    (c_decoded,) = core.Decoder().feed(encode_frame(frame))
    assert c_decoded == frame


@given(readings)
def test_reading_payload_agrees(r: Reading) -> None:
    assert core.pack_reading(r) == to_frame(r).payload


@given(any_frames())
def test_frames_with_auth_agree(frame: Frame) -> None:
    raw = pack_frame(frame)
    assert raw == core.pack_frame(frame)
    assert unpack_frame(raw) == frame == core.unpack_frame(raw)


@settings(max_examples=200)
@given(st.lists(any_frames(), min_size=1, max_size=6), st.data())
def test_decoders_agree_on_corrupted_streams(frame_list: list[Frame], data: st.DataObject) -> None:
    stream = bytearray(b"".join(encode_frame(f) for f in frame_list))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(stream) - 1))
        stream[i] = data.draw(u8)
    stream = bytes(stream)
    py = FrameDecoder()
    py_frames = list(py.feed(stream))
    c = core.Decoder()
    assert py_frames == c.feed(stream)
    assert py.dropped == c.dropped
    assert py.frames == c.frames


@given(st.binary(min_size=0, max_size=300))
def test_unpack_agrees_on_arbitrary_bytes(raw: bytes) -> None:
    try:
        py: Frame | None = unpack_frame(raw)
    except FrameError:
        py = None
    assert py == core.unpack_frame(raw)


@given(st.binary(min_size=0, max_size=240))
def test_unpack_agrees_on_bodies_with_a_valid_crc(body: bytes) -> None:
    """With the CRC right, the structural checks (length, version, flags) must agree too."""
    raw = body + pycrc.crc32c(body).to_bytes(4, "little")
    try:
        py: Frame | None = unpack_frame(raw)
    except FrameError:
        py = None
    assert py == core.unpack_frame(raw)


def test_documented_example_frame() -> None:
    """The READING example of docs/serial-protocol.md, as a known-answer vector."""
    wire = bytes.fromhex(
        "03 01 02 02 05 01 01 03 07 b0 01 02 01 01 01 02 01 02 01 03 66 08 01 02 fe 03 e8"
        " 03 01 01 01 01 01 05 6e 5f 44 95 00"
    )
    r = Reading(5, 0xB007, 1, 1, 1, 2150, -2, 0, 1000)
    assert encode_frame(to_frame(r)) == wire == core.encode_frame(to_frame(r))
    (frame,) = list(FrameDecoder().feed(wire))
    assert message_from_frame(frame) == r


@given(frames, st.binary(min_size=32, max_size=32), u64)
def test_c_and_python_frame_signatures_agree(frame: Frame, key: bytes, counter: int) -> None:
    from edgeseal.firmware_bridge.auth import ReplayGuard, sign_frame

    signed = core.sign_frame(frame, key, counter)
    assert signed == sign_frame(frame, key, counter)
    assert ReplayGuard({frame.device_id: key}).check(unpack_frame(pack_frame(signed))) is None


@given(st.binary(max_size=300), st.binary(max_size=200))
def test_c_sha256_and_hmac_match_hashlib(key: bytes, msg: bytes) -> None:
    import hashlib
    import hmac

    assert core.sha256(msg) == hashlib.sha256(msg).digest()
    if key:
        assert core.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()
