"""Properties of the streaming decoder: no exception escapes, no false frames, resync."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseal.firmware_bridge.frame import MAX_PAYLOAD, Frame, FrameDecoder, encode_frame

frames = st.builds(
    Frame,
    type=st.integers(0, 255),
    device_id=st.integers(0, 2**32 - 1),
    boot_id=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=MAX_PAYLOAD),
)


@given(st.binary(max_size=4000))
def test_garbage_never_raises_and_is_counted(garbage: bytes) -> None:
    dec = FrameDecoder()
    out = list(dec.feed(garbage))
    # Random bytes pass CRC-32C with probability 2^-32 per piece: treat any as a bug.
    assert out == []
    pieces = [p for p in garbage.split(b"\x00")[:-1] if p]
    assert sum(dec.dropped.values()) == len(pieces)


@given(st.binary(max_size=500), st.lists(frames, min_size=1, max_size=5), st.integers(1, 64))
def test_frames_after_garbage_are_recovered_whatever_the_chunking(
    garbage: bytes, frame_list: list[Frame], chunk: int
) -> None:
    stream = garbage + b"\x00" + b"".join(encode_frame(f) for f in frame_list)
    dec = FrameDecoder()
    out = [f for i in range(0, len(stream), chunk) for f in dec.feed(stream[i : i + chunk])]
    assert out == frame_list


@settings(max_examples=300)
@given(st.lists(frames, min_size=1, max_size=8), st.integers(0, 2**32 - 1), st.integers(1, 20))
def test_corruption_never_produces_a_false_frame(
    frame_list: list[Frame], seed: int, faults: int
) -> None:
    rng = random.Random(seed)
    stream = bytearray(b"".join(encode_frame(f) for f in frame_list))
    for _ in range(faults):
        kind = rng.randrange(3)
        i = rng.randrange(len(stream))
        if kind == 0:
            stream[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and len(stream) > 1:
            del stream[i]
        else:
            stream.insert(i, rng.randrange(256))
    out = list(FrameDecoder().feed(bytes(stream)))
    # Every frame that comes out is one that went in, and order is kept.
    it = iter(frame_list)
    for f in out:
        assert any(f == g for g in it), f"false or reordered frame {f}"


def test_overlong_run_is_dropped_and_decoder_resyncs() -> None:
    good = Frame(2, 1, 2, 3, b"x" * 18)
    dec = FrameDecoder()
    assert list(dec.feed(b"\x55" * 1000)) == []
    assert list(dec.feed(b"\x00" + encode_frame(good))) == [good]
    assert dec.dropped["too_long"] == 1


def test_every_single_bit_flip_is_rejected() -> None:
    wire = encode_frame(Frame(2, 0xA1B2C3D4, 7, 42, bytes(range(18))))
    for i in range(len(wire) - 1):
        for bit in range(8):
            bad = bytearray(wire)
            bad[i] ^= 1 << bit
            assert list(FrameDecoder().feed(bytes(bad))) == [], (i, bit)
