"""atheris fuzz target for both streaming decoders (Python and the C reference).

Run briefly from tests/firmware_bridge/test_fb_fuzz.py; by hand:
    python3 tests/firmware_bridge/fuzz_fb_decoder.py -runs=200000
Checks: no exception escapes, every frame out has a valid CRC (re-encoding it
gives bytes that decode to the same frame), and the two decoders agree exactly.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from edgeseal.firmware_bridge import core
    from edgeseal.firmware_bridge.crc import crc32c
    from edgeseal.firmware_bridge.frame import FrameDecoder, encode_frame, pack_frame


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    split = fdp.ConsumeIntInRange(0, len(data))
    stream = fdp.ConsumeBytes(len(data))
    py = FrameDecoder()
    out = list(py.feed(stream[:split])) + list(py.feed(stream[split:]))
    c = core.Decoder()
    c_out = c.feed(stream)
    if out != c_out or py.dropped != c.dropped:
        raise AssertionError(f"decoders disagree: {out} vs {c_out}, {py.dropped} vs {c.dropped}")
    for f in out:
        raw = pack_frame(f)
        if crc32c(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
            raise AssertionError("decoder yielded a frame with a bad CRC")
        if list(FrameDecoder().feed(encode_frame(f))) != [f]:
            raise AssertionError("frame does not survive re-encoding")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
