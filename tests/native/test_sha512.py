"""native.sha512 against hashlib: every length 0..1024, random larger inputs, buffer types."""

from __future__ import annotations

import hashlib
import random

import pytest

from edgeseal import native


def test_every_length_up_to_1024() -> None:
    rng = random.Random(512)
    data = rng.randbytes(1024)
    for n in range(1025):
        assert native.sha512(data[:n]) == hashlib.sha512(data[:n]).digest(), f"length {n}"


def test_random_large_inputs() -> None:
    rng = random.Random(0x5A512)
    for n in [4095, 4096, 4097, 65_535, 65_536, 1_000_003] + [
        rng.randrange(1025, 300_000) for _ in range(10)
    ]:
        data = rng.randbytes(n)
        assert native.sha512(data) == hashlib.sha512(data).digest(), f"length {n}"


def test_block_boundaries_with_unaligned_views() -> None:
    # Padding edge cases (111/112 bytes leave no room for the 16-byte length)
    # and buffers that start at odd addresses.
    base = bytes(range(256)) * 4
    for n in (111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 257):
        for start in (1, 3, 7):
            view = memoryview(base)[start : start + n]
            assert native.sha512(view) == hashlib.sha512(view).digest(), (n, start)
            assert native.sha512(bytearray(view)) == hashlib.sha512(view).digest()


@pytest.mark.parametrize("bad", ["abc", 12, None, [1, 2, 3]])
def test_non_bytes_input_is_a_type_error(bad: object) -> None:
    with pytest.raises(native.NativeTypeError, match="data must be bytes"):
        native.sha512(bad)  # type: ignore[arg-type]


def test_strided_memoryview_is_rejected_clearly() -> None:
    strided = memoryview(bytes(64))[::2]
    with pytest.raises(native.NativeTypeError, match="contiguous"):
        native.sha512(strided)
