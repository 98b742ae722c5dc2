"""SHA-256 through the C core's run-time dispatch.

``sha256`` hashes one message; ``sha256_many`` and ``sha256_many_packed`` hash
many independent messages in one C call (the SHA-NI / ARMv8 variants interleave
them). ``variant=`` runs one named implementation instead of the dispatcher's
choice, so tests can cover each; ``dispatch_info()`` says what the dispatcher saw
and picked. ``EDGESEAL_SHA256=portable`` in the environment (read once, when the
first hash is computed) forces the portable code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edgeseal.native._hashing import ffi, lib
from edgeseal.native.errors import NativeInternalError, NativeValueError
from edgeseal.native.packed import Packed, byte_view, pack_messages, packed_from

DIGEST_LEN = 32
ENV_VARIANT = "EDGESEAL_SHA256"

VARIANTS: tuple[str, ...] = tuple(
    ffi.string(lib.es_sha256_variant_name(i)).decode() for i in range(lib.ES_SHA256_VARIANT_COUNT)
)

_FEATURE_BITS: tuple[tuple[int, str], ...] = (
    (lib.ES_CPU_X86_SSSE3, "ssse3"),
    (lib.ES_CPU_X86_SSE41, "sse4.1"),
    (lib.ES_CPU_X86_SHA, "sha"),
    (lib.ES_CPU_ARM_ASIMD, "asimd"),
    (lib.ES_CPU_ARM_SHA2, "sha2"),
)


@dataclass(frozen=True)
class DispatchInfo:
    """What the C dispatcher found on this CPU and which SHA-256 code it runs."""

    active: str
    available: tuple[str, ...]
    cpu_features: tuple[str, ...]
    forced_by_env: bool
    env_value: str | None


def dispatch_info() -> DispatchInfo:
    bits = lib.es_cpu_features()
    return DispatchInfo(
        active=active_variant(),
        available=available_variants(),
        cpu_features=tuple(name for bit, name in _FEATURE_BITS if bits & bit),
        forced_by_env=bool(lib.es_sha256_forced()),
        env_value=os.environ.get(ENV_VARIANT),
    )


def available_variants() -> tuple[str, ...]:
    return tuple(v for i, v in enumerate(VARIANTS) if lib.es_sha256_variant_available(i))


def active_variant() -> str:
    return VARIANTS[int(lib.es_sha256_active_variant())]


def _variant_id(variant: str | None) -> int:
    if variant is None:
        return int(lib.es_sha256_active_variant())
    if variant not in VARIANTS:
        raise NativeValueError(
            f"unknown SHA-256 variant {variant!r}; choose from {', '.join(VARIANTS)}"
        )
    vid = VARIANTS.index(variant)
    if not lib.es_sha256_variant_available(vid):
        raise NativeValueError(
            f"SHA-256 variant {variant!r} cannot run on this CPU/build; "
            f"available: {', '.join(available_variants())}"
        )
    return vid


def sha256(data: Any, *, variant: str | None = None) -> bytes:
    """SHA-256 of one bytes-like object."""
    vid = _variant_id(variant)
    view = byte_view(data, "data")
    out = ffi.new("uint8_t[32]")
    if lib.es_sha256_with_variant(vid, view, len(view), out) != 0:
        raise NativeInternalError("es_sha256_with_variant failed on checked arguments")
    return bytes(ffi.buffer(out))


def _many(packed: Packed, vid: int) -> bytes:
    out = bytearray(DIGEST_LEN * packed.count)
    rc = lib.es_sha256_many_with_variant(
        vid,
        packed.c_buf,
        packed.buf_len,
        packed.c_offsets,
        packed.count,
        ffi.from_buffer("uint8_t[]", out, require_writable=True),
    )
    if rc != 0:
        raise NativeInternalError("es_sha256_many_with_variant failed on checked arguments")
    return bytes(out)


def sha256_many(messages: Any, *, variant: str | None = None) -> list[bytes]:
    """SHA-256 of each bytes-like message, in one C call."""
    vid = _variant_id(variant)
    digests = _many(pack_messages(messages, "messages"), vid)
    return [digests[i : i + DIGEST_LEN] for i in range(0, len(digests), DIGEST_LEN)]


def sha256_many_packed(buf: Any, offsets: Any, *, variant: str | None = None) -> bytes:
    """Digests of ``buf[offsets[i]:offsets[i+1]]``, concatenated (32 bytes each).

    ``offsets`` holds count + 1 non-decreasing values: array('Q') (zero-copy), any
    contiguous uint64 buffer, or a sequence of ints.
    """
    vid = _variant_id(variant)
    return _many(packed_from(buf, offsets, "messages"), vid)
