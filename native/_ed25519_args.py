"""Zero-copy access to bytes-like arguments for the cffi modules (internal)."""

from __future__ import annotations

from typing import Any

from edgeseal.native.errors import NativeTypeError

BytesLike = bytes | bytearray | memoryview


def byte_view(ffi: Any, name: str, value: object) -> tuple[Any, int]:
    """Returns (pointer-compatible object, length in bytes) without copying.

    bytes are passed to cffi as they are; bytearray and contiguous memoryview
    objects go through ``ffi.from_buffer``. Anything else (str, int, list...)
    is a caller error.
    """
    if isinstance(value, bytes):
        return value, len(value)
    if isinstance(value, (bytearray, memoryview)):
        view = memoryview(value)
        if not view.contiguous:
            raise NativeTypeError(f"{name} must be a contiguous buffer; got a strided memoryview")
        return ffi.from_buffer("uint8_t[]", value), view.nbytes
    raise NativeTypeError(
        f"{name} must be bytes, bytearray or memoryview, not {type(value).__name__}"
    )
