"""CRC-32C (Castagnoli) in pure Python, bit-compatible with ``fb_crc32c`` in C.

Reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF (RFC 3720, B.4).
Why CRC-32C and not CRC-16: see docs/serial-protocol.md, "Integrity".
"""

from __future__ import annotations

_POLY = 0x82F63B78


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of ``data``; pass a previous result as ``crc`` to continue over split input."""
    table = _TABLE
    value = crc ^ 0xFFFFFFFF
    for byte in bytes(data):
        value = table[(value ^ byte) & 0xFF] ^ (value >> 8)
    return value ^ 0xFFFFFFFF
