"""SHA-512 from the native core (FIPS 180-4); the same code hashes Ed25519 challenges."""

from __future__ import annotations

from edgeseal.native._ed25519 import ffi, lib
from edgeseal.native._ed25519_args import byte_view
from edgeseal.native.errors import NativeInternalError

SHA512_DIGEST_SIZE = 64


def sha512(data: bytes | bytearray | memoryview) -> bytes:
    """Returns the 64-byte SHA-512 digest of ``data``."""
    buf, length = byte_view(ffi, "data", data)
    out = ffi.new("uint8_t[64]")
    if lib.es_sha512(buf, length, out) != 0:
        raise NativeInternalError("es_sha512 rejected its arguments; this is a bug")
    return bytes(ffi.buffer(out))
