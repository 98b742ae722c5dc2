"""Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999), same rules as fb_cobs.c.

After stuffing, 0x00 occurs only as the frame delimiter; see docs/serial-protocol.md.
"""

from __future__ import annotations


class CobsError(ValueError):
    """The bytes between two delimiters are not a valid COBS encoding."""


def cobs_encode(data: bytes) -> bytes:
    """Stuff ``data``; the result contains no 0x00 and has no delimiter appended."""
    out = bytearray()
    # Work piece by piece between zeros; bytes.split runs at C speed.
    pieces = bytes(data).split(b"\x00")
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        # A piece longer than 254 bytes is cut into full 0xFF blocks that
        # imply no zero after them.
        while len(piece) >= 254:
            block, piece = piece[:254], piece[254:]
            out.append(0xFF)
            out += block
            if not piece and index == last:
                return bytes(out)
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Unstuff one frame (without its delimiter); raises CobsError on malformed input."""
    if not data:
        raise CobsError("empty frame")
    if 0 in data:
        raise CobsError("0x00 inside a stuffed frame")
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise CobsError(f"code byte at offset {i} points {end - n} bytes past the end")
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
