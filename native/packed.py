"""Turning Python arguments into the C core's packed form, with clear errors.

The C functions take one byte buffer plus ``count + 1`` uint64 offsets (message
``i`` is ``buf[offsets[i]:offsets[i+1]]``). This module builds that form from a
sequence of bytes-like objects (one ``join`` and one ``accumulate``, both C loops,
so there is no Python work per message) or checks one the caller already has,
and reports bad input as :class:`~edgeseal.native.errors.NativeTypeError` /
:class:`~edgeseal.native.errors.NativeValueError` naming the offending position.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from edgeseal.native._hashing import ffi, lib
from edgeseal.native.errors import NativeTypeError, NativeValueError

UINT64_MAX = 2**64 - 1
_FAST_TYPES = frozenset({bytes, bytearray})
# Buffer formats that are an unsigned 64-bit integer on the platforms we build for.
_U64_FORMATS = frozenset({"Q", "<Q", "=Q", "@Q", "L", "<L", "=L", "@L", "N", "@N"})


@dataclass(frozen=True)
class Packed:
    """Messages in the C core's packed form; keeps the Python buffers alive."""

    buf: Any  # bytes-like; referenced so the cffi pointers below stay valid
    offsets: Any  # buffer of count + 1 uint64
    count: int
    c_buf: Any
    c_offsets: Any

    @property
    def buf_len(self) -> int:
        return len(ffi.buffer(self.c_buf))


def byte_view(obj: object, what: str) -> Any:
    """A cffi ``uint8_t[]`` over a contiguous bytes-like object (no copy)."""
    if isinstance(obj, str):
        raise NativeTypeError(f"{what} must be bytes-like, not str (encode it first)")
    try:
        return ffi.from_buffer("uint8_t[]", obj)
    except TypeError:
        raise NativeTypeError(
            f"{what} must be a bytes-like object (bytes, bytearray, memoryview), "
            f"not {type(obj).__name__}"
        ) from None
    except (ValueError, BufferError) as exc:
        raise NativeTypeError(f"{what} must be a contiguous buffer: {exc}") from None


def check_hash(obj: object, what: str) -> Any:
    """A cffi view of a 32-byte hash, or a clear error."""
    view = byte_view(obj, what)
    if len(view) != 32:
        raise NativeValueError(f"{what} must be 32 bytes (a SHA-256 hash), got {len(view)}")
    return view


def check_u64(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NativeTypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value <= UINT64_MAX:
        raise NativeValueError(f"{what} must be between 0 and 2**64-1, got {value}")
    return value


def as_sequence(items: object, what: str) -> list[Any] | tuple[Any, ...]:
    """The items as a list/tuple, refusing a lone bytes-like or str object."""
    if isinstance(items, (bytes, bytearray, memoryview, str)):
        raise NativeTypeError(
            f"{what} must be a sequence of bytes-like objects, not a single "
            f"{type(items).__name__} (wrap it in a list, or use the *_packed form)"
        )
    if isinstance(items, (list, tuple)):
        return items
    if not isinstance(items, Iterable):
        raise NativeTypeError(
            f"{what} must be a sequence of bytes-like objects, not {type(items).__name__}"
        )
    return list(items)


def _lengths(items: list[Any] | tuple[Any, ...], what: str) -> Iterable[int]:
    if set(map(type, items)) <= _FAST_TYPES:
        return map(len, items)  # len() is the byte length for these types
    lengths = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            raise NativeTypeError(f"{what}[{i}] must be bytes-like, not str (encode it first)")
        try:
            view = memoryview(item)
        except TypeError:
            raise NativeTypeError(
                f"{what}[{i}] must be a bytes-like object, not {type(item).__name__}"
            ) from None
        if not view.c_contiguous:
            raise NativeTypeError(f"{what}[{i}] must be a contiguous buffer")
        lengths.append(view.nbytes)
    return lengths


def pack_messages(items: object, what: str) -> Packed:
    """Pack a sequence of bytes-like objects into one buffer plus offsets."""
    seq = as_sequence(items, what)
    lengths = _lengths(seq, what)
    offsets = array("Q", [0])
    offsets.extend(accumulate(lengths))
    try:
        buf = b"".join(seq)
    except TypeError:
        bad = next(i for i, x in enumerate(seq) if not _is_bytes_like(x))
        raise NativeTypeError(
            f"{what}[{bad}] must be a bytes-like object, not {type(seq[bad]).__name__}"
        ) from None
    return Packed(
        buf,
        offsets,
        len(seq),
        ffi.from_buffer("uint8_t[]", buf),
        ffi.from_buffer("uint64_t[]", offsets),
    )


def _is_bytes_like(obj: object) -> bool:
    if isinstance(obj, str):
        return False
    try:
        memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        return False
    return True


def u64_array(values: object, what: str) -> tuple[Any, Any]:
    """(python object, cffi uint64_t[]) for a uint64 buffer or an iterable of ints."""
    if not isinstance(values, (bytes, bytearray, str)):
        try:
            view = memoryview(values)  # type: ignore[arg-type]  # checked by the except
        except TypeError:
            view = None
        if view is not None:
            if view.itemsize != 8 or view.format not in _U64_FORMATS or not view.c_contiguous:
                raise NativeTypeError(
                    f"{what} as a buffer must be contiguous unsigned 64-bit integers "
                    f"(array('Q')), got format {view.format!r}"
                )
            return values, ffi.from_buffer("uint64_t[]", values)
    if isinstance(values, (bytes, bytearray, str)) or not isinstance(values, Iterable):
        raise NativeTypeError(
            f"{what} must be array('Q'), a uint64 buffer or a sequence of ints, "
            f"not {type(values).__name__}"
        )
    items = list(values)
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, int):
            raise NativeTypeError(f"{what}[{i}] must be an int, not {type(v).__name__}")
    try:
        arr = array("Q", items)
    except OverflowError:
        bad = next(i for i, v in enumerate(items) if not 0 <= v <= UINT64_MAX)
        raise NativeValueError(f"{what}[{bad}] = {items[bad]} is outside 0 .. 2**64-1") from None
    return arr, ffi.from_buffer("uint64_t[]", arr)


def packed_from(buf: object, offsets: object, what: str) -> Packed:
    """Check a caller's packed form: len(offsets) - 1 messages, in order, inside buf."""
    c_buf = byte_view(buf, f"{what} buffer")
    off_obj, c_off = u64_array(offsets, f"{what} offsets")
    n_offsets = len(c_off)
    if n_offsets < 1:
        raise NativeValueError(f"{what} offsets must hold count + 1 values (at least one, 0)")
    count = n_offsets - 1
    bad = ffi.new("size_t *")
    if lib.es_offsets_check(c_off, count, len(c_buf), bad) != 0:
        i = bad[0]
        if i == count and (count == 0 or c_off[count] >= c_off[count - 1]):
            raise NativeValueError(
                f"{what} offsets[{i}] = {c_off[i]} is past the end of the buffer "
                f"({len(c_buf)} bytes)"
            )
        raise NativeValueError(
            f"{what} offsets must not decrease: offsets[{i}] = {c_off[i]} < "
            f"offsets[{i - 1}] = {c_off[i - 1]}"
        )
    return Packed(buf, off_obj, count, c_buf, c_off)
