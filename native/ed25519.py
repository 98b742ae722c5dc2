"""Ed25519 signature verification (RFC 8032) over the native core.

One rule set for every function here (docs/verification-policy.md): canonical
encodings of A and R, A not of small order, S < L, and the cofactored equation
[8][S]B = [8]R + [8][k]A. ``verify`` and the batch functions therefore never
disagree about a signature.

The C calls release the GIL (cffi API mode), so ``threads`` > 1 splits a batch
into chunks verified in parallel by a thread pool. Batch coefficients are
drawn inside the C core from the OS CSPRNG (getrandom(2) on Linux).

A signature that does not verify is a result (False). Exceptions are for
malformed arguments (:class:`~edgeseal.native.errors.NativeTypeError` /
:class:`~edgeseal.native.errors.NativeValueError`) and for failures of the core itself
(:class:`~edgeseal.native.errors.NativeInternalError`, e.g. out of memory).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from edgeseal.native._ed25519 import ffi, lib
from edgeseal.native._ed25519_args import byte_view
from edgeseal.native.errors import NativeInternalError, NativeTypeError, NativeValueError

logger = logging.getLogger(__name__)

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
# Below this many items per thread, splitting costs more (thread start, smaller
# multi-scalar multiplications) than it saves.
MIN_ITEMS_PER_THREAD = 128

BytesLike = bytes | bytearray | memoryview
_BYTES_TYPES = (bytes, bytearray, memoryview)
# Offsets buffers: unsigned integer formats in native byte order. One whose item
# size equals size_t's is used in place; others (e.g. array('Q') on a 32-bit
# gateway) are converted.
_UNSIGNED_FORMATS = frozenset(
    prefix + code
    for code in "QLIN"
    for prefix in ("", "@", "=", "<" if sys.byteorder == "little" else "@")
)
_SIZE_T_TYPECODE = "Q" if ffi.sizeof("size_t") == 8 else "I"


def implementation() -> str:
    """Which code runs batch verification here: "avx512ifma", "avx512f" or "portable".

    "avx512ifma": decoding, Pippenger and the challenge hashes use AVX-512
    (IFMA and F); "avx512f": only the hashes (a CPU without IFMA); "portable":
    plain C. Chosen once per process from the CPU when the extension is
    loaded; ``EDGESEAL_ED25519`` set to one of these names in the environment
    at that time forces it (if the CPU can run it). Changing the environment
    later has no effect: the C core never reads it again.
    """
    return str(ffi.string(lib.es_ed25519_implementation()).decode("ascii"))


def verify(public_key: BytesLike, message: BytesLike, signature: BytesLike) -> bool:
    """True iff ``signature`` (64 bytes) is valid for ``message`` under ``public_key`` (32 bytes).

    A key or signature of the wrong length is simply not valid (False).
    """
    key, key_len = byte_view(ffi, "public_key", public_key)
    msg, msg_len = byte_view(ffi, "message", message)
    sig, sig_len = byte_view(ffi, "signature", signature)
    return bool(lib.es_ed25519_verify_vartime(key, key_len, msg, msg_len, sig, sig_len) == 0)


class PreparedKey:
    """A public key decoded and checked once, for many single verifications.

    ``PreparedKey(public_key)`` (or ``PreparedKey.of(public_key)`` for any
    bytes-like key) raises NativeValueError if the key is not a usable Ed25519
    key (wrong length, non-canonical or invalid encoding, small order): no
    signature could ever verify under it, and a key is configuration, so a
    bad one is reported where it is set up rather than as a stream of False.
    ``verify`` then skips the key's decoding (a square root) on every call.
    Batches need no preparation: they decode each distinct key once per call
    (once per thread chunk).

    The prepared form (the key and its point's x coordinate) lives in one
    private immutable buffer that the C core checks on every use, so nothing
    set, pickled or copied from another build can make it verify under a
    different key. Pickling stores only the public key and prepares it again.
    Instances are immutable, compare and hash by public key.
    """

    __slots__ = ("_prepared",)
    _prepared: bytes

    def __init__(self, public_key: BytesLike) -> None:
        key, key_len = byte_view(ffi, "public_key", public_key)
        if key_len != PUBLIC_KEY_SIZE:
            raise NativeValueError(f"public key must be {PUBLIC_KEY_SIZE} bytes, got {key_len}")
        size = int(lib.es_ed25519_prepared_size())
        out = ffi.new("uint8_t[]", size)
        if lib.es_ed25519_prepare_key_vartime(key, key_len, out, size) != 0:
            raise NativeValueError(
                f"public key {bytes(public_key).hex()} is not a valid Ed25519 key "
                "(non-canonical or invalid encoding, or a point of small order)"
            )
        object.__setattr__(self, "_prepared", bytes(ffi.buffer(out)))

    @classmethod
    def of(cls, public_key: BytesLike) -> PreparedKey:
        return cls(public_key)

    @property
    def public_key(self) -> bytes:
        return self._prepared[:PUBLIC_KEY_SIZE]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"PreparedKey is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"PreparedKey is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[PreparedKey], tuple[bytes]]:
        return (PreparedKey, (self.public_key,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PreparedKey):
            return NotImplemented
        return self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash((PreparedKey, self.public_key))

    def __repr__(self) -> str:
        return f"PreparedKey({self.public_key!r})"

    def verify(self, message: BytesLike, signature: BytesLike) -> bool:
        """As ``native.verify(self.public_key, message, signature)``.

        A signature that is not 64 bytes is simply not valid (False).
        """
        msg, msg_len = byte_view(ffi, "message", message)
        sig, sig_len = byte_view(ffi, "signature", signature)
        prepared = self._prepared
        rc = lib.es_ed25519_verify_prepared_vartime(
            prepared, len(prepared), msg, msg_len, sig, sig_len
        )
        if rc == -2:
            raise NativeInternalError(
                "PreparedKey's prepared form was refused by the C core (altered in memory?)"
            )
        return bool(rc == 0)


def verify_batch(
    public_keys: Sequence[BytesLike],
    messages: Sequence[BytesLike],
    signatures: Sequence[BytesLike],
    *,
    threads: int | None = None,
) -> list[bool]:
    """Verifies ``signatures[i]`` over ``messages[i]`` under ``public_keys[i]``; one verdict per item.

    Items whose key is not 32 bytes or whose signature is not 64 bytes are
    False; they do not disturb the other items. ``threads`` (default 1) splits
    the batch into up to that many chunks verified in parallel, each of at
    least MIN_ITEMS_PER_THREAD items, and never more chunks than the CPUs this
    process may run on. Raises NativeValueError if the three sequences differ
    in length, NativeTypeError if an item is not bytes-like or a strided
    memoryview.
    """
    n = len(public_keys)
    if len(messages) != n or len(signatures) != n:
        raise NativeValueError(
            "verify_batch needs one public key, one message and one signature per item; got "
            f"{n} keys, {len(messages)} messages, {len(signatures)} signatures"
        )
    # Fast path (C-speed checks, no Python loop per item) when every item is
    # bytes or bytearray, whose len() is their size; anything else goes
    # through the per-item checks, which also name the offending item.
    plain = {bytes, bytearray}
    if set(map(type, public_keys)) | set(map(type, signatures)) | set(map(type, messages)) <= plain:
        key_sizes: Sequence[int] = list(map(len, public_keys))
        sig_sizes: Sequence[int] = list(map(len, signatures))
        msg_sizes: Sequence[int] = list(map(len, messages))
    else:
        for name, seq in (
            ("public_keys", public_keys),
            ("messages", messages),
            ("signatures", signatures),
        ):
            for i, item in enumerate(seq):
                if not isinstance(item, _BYTES_TYPES):
                    raise NativeTypeError(
                        f"{name}[{i}] must be bytes, bytearray or memoryview, "
                        f"not {type(item).__name__}"
                    )
        key_sizes = [_nbytes(f"public_keys[{i}]", k) for i, k in enumerate(public_keys)]
        sig_sizes = [_nbytes(f"signatures[{i}]", sg) for i, sg in enumerate(signatures)]
        msg_sizes = [_nbytes(f"messages[{i}]", m) for i, m in enumerate(messages)]
    if set(key_sizes) <= {PUBLIC_KEY_SIZE} and set(sig_sizes) <= {SIGNATURE_SIZE}:
        good = None
        keys_buf = b"".join(public_keys)
        sigs_buf = b"".join(signatures)
        msg_list: Sequence[BytesLike] = messages
    else:
        good = [
            i
            for i in range(n)
            if key_sizes[i] == PUBLIC_KEY_SIZE and sig_sizes[i] == SIGNATURE_SIZE
        ]
        keys_buf = b"".join(public_keys[i] for i in good)
        sigs_buf = b"".join(signatures[i] for i in good)
        msg_list = [messages[i] for i in good]
        msg_sizes = [msg_sizes[i] for i in good]
    msgs_buf = b"".join(msg_list)
    offsets = array(_SIZE_T_TYPECODE, [0])
    offsets.extend(accumulate(msg_sizes))
    verdicts = _verify_packed_raw(keys_buf, sigs_buf, msgs_buf, offsets, len(msg_list), threads)
    if good is None:
        return verdicts
    full = [False] * n
    for pos, i in enumerate(good):
        full[i] = verdicts[pos]
    return full


def verify_batch_packed(
    keys: BytesLike,
    signatures: BytesLike,
    messages: BytesLike,
    offsets: Sequence[int] | BytesLike | array[int],
    *,
    threads: int | None = None,
) -> list[bool]:
    """Batch verification over packed buffers (no per-item Python objects).

    keys:       32 bytes (one key for every item) or 32 * n bytes
    signatures: 64 * n bytes
    messages:   all messages concatenated; item i is messages[offsets[i]:offsets[i + 1]]
    offsets:    n + 1 non-decreasing byte offsets, none past the end of
                messages (a sequence of ints, or a buffer of unsigned integers
                such as array('Q'), which is copied with one memmove)
    threads:    as for verify_batch

    Returns one verdict per signature. Every offset is checked before any
    message byte is read (NativeValueError names the first bad one). keys,
    signatures and messages are read in place (no copy) and must not be
    modified during the call; the offsets are copied first, so C reads
    exactly the values that were checked.
    """
    sig_len = _nbytes("signatures", signatures)
    if sig_len % SIGNATURE_SIZE:
        raise NativeValueError(
            f"signatures must be a multiple of {SIGNATURE_SIZE} bytes long; got {sig_len}"
        )
    n = sig_len // SIGNATURE_SIZE
    key_len = _nbytes("keys", keys)
    if key_len not in (PUBLIC_KEY_SIZE, PUBLIC_KEY_SIZE * n):
        raise NativeValueError(
            f"keys must hold one 32-byte key or one per signature ({PUBLIC_KEY_SIZE * n} bytes "
            f"for {n} signatures); got {key_len} bytes"
        )
    return _verify_packed_raw(keys, signatures, messages, offsets, n, threads)


def _usable_cpus() -> int:
    """CPUs this process may run on: more threads than that only add overhead."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _nbytes(name: str, value: object) -> int:
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, (bytearray, memoryview)):
        view = memoryview(value)
        if not view.c_contiguous:
            raise NativeTypeError(f"{name} must be a contiguous buffer; got a strided memoryview")
        return view.nbytes
    raise NativeTypeError(
        f"{name} must be bytes, bytearray or memoryview, not {type(value).__name__}"
    )


def _copied_offsets(offsets: object, n: int, msg_len: int) -> Any:
    """A private cffi size_t[] copy of the offsets, checked whole against the message buffer.

    The copy is what C reads: a caller's buffer could change between the check
    and the read (another thread), the copy cannot. Every entry is checked here,
    before the batch is split into chunks, so no chunk starts from an offset
    outside ``messages``.
    """
    if isinstance(offsets, (bytes, bytearray, memoryview, array)):
        view = memoryview(offsets)
        if view.format not in _UNSIGNED_FORMATS or view.ndim != 1:
            raise NativeTypeError(
                "offsets given as a buffer must hold unsigned integers in native byte "
                f"order (e.g. array('Q')); got format {view.format!r}"
            )
        count = len(view)
        if count != n + 1:
            raise _offsets_count_error(n, count)
        if view.itemsize == ffi.sizeof("size_t") and view.c_contiguous:
            c_offsets = ffi.new("size_t[]", count)
            ffi.memmove(c_offsets, view, view.nbytes)
        else:
            try:
                c_offsets = ffi.new("size_t[]", view.tolist())
            except OverflowError:
                raise NativeValueError(
                    "offsets exceed this platform's size_t; messages this large cannot be addressed"
                ) from None
    else:
        try:
            values = list(offsets)  # type: ignore[call-overload]
            count = len(values)
            if count != n + 1:
                raise _offsets_count_error(n, count)
            c_offsets = ffi.new("size_t[]", values)
        except (TypeError, OverflowError) as exc:
            raise NativeValueError(
                f"offsets must be non-negative integers that fit a size_t: {exc}"
            ) from None
    bad = ffi.new("size_t *")
    if lib.es_ed25519_batch_offsets_check(c_offsets, n, msg_len, bad) != 0:
        i = bad[0]
        if c_offsets[i] > msg_len:
            raise NativeValueError(
                f"offsets[{i}] = {c_offsets[i]} points past the end of messages ({msg_len} bytes)"
            )
        raise NativeValueError(
            f"offsets must be non-decreasing; offsets[{i}] = {c_offsets[i]} < "
            f"offsets[{i - 1}] = {c_offsets[i - 1]}"
        )
    return c_offsets


def _offsets_count_error(n: int, count: int) -> NativeValueError:
    return NativeValueError(
        f"offsets must have n + 1 = {n + 1} entries for {n} signatures; got {count}"
    )


def _verify_packed_raw(
    keys: BytesLike,
    signatures: BytesLike,
    messages: BytesLike,
    offsets: object,
    n: int,
    threads: int | None,
) -> list[bool]:
    if threads is not None and (
        not isinstance(threads, int) or isinstance(threads, bool) or threads < 1
    ):
        raise NativeValueError(f"threads must be a positive integer or None; got {threads!r}")
    key_len = _nbytes("keys", keys)
    _nbytes("signatures", signatures)
    msg_len = _nbytes("messages", messages)
    c_offsets = _copied_offsets(offsets, n, msg_len)
    if n == 0:
        return []
    shared_key = key_len == PUBLIC_KEY_SIZE
    verdicts = ffi.new("uint8_t[]", n)
    workers = min(threads or 1, _usable_cpus(), max(1, n // MIN_ITEMS_PER_THREAD))

    key_ptr = ffi.from_buffer("uint8_t[]", keys)
    sig_ptr = ffi.from_buffer("uint8_t[]", signatures)
    msg_ptr = ffi.from_buffer("uint8_t[]", messages) if msg_len else ffi.NULL

    def run(lo: int, hi: int) -> int:
        # Each chunk gets its own slice of keys, signatures and offsets, and the
        # whole message buffer with its length (offsets are absolute).
        count = hi - lo
        return int(
            lib.es_ed25519_verify_batch_vartime(
                key_ptr if shared_key else key_ptr + PUBLIC_KEY_SIZE * lo,
                PUBLIC_KEY_SIZE if shared_key else PUBLIC_KEY_SIZE * count,
                sig_ptr + SIGNATURE_SIZE * lo,
                SIGNATURE_SIZE * count,
                msg_ptr,
                msg_len,
                c_offsets + lo,
                count,
                verdicts + lo,
            )
        )

    if workers == 1:
        codes = [run(0, n)]
    else:
        # The calling thread takes the first chunk; one short-lived thread per
        # other chunk (cheaper than a pool per call, and no state kept between
        # calls). The C calls release the GIL, so the chunks run in parallel.
        bounds = [n * w // workers for w in range(workers + 1)]
        codes = [0] * workers

        def chunk(w: int) -> None:
            codes[w] = run(bounds[w], bounds[w + 1])

        helpers = [
            threading.Thread(target=chunk, args=(w,), name=f"es-verify-{w}")
            for w in range(1, workers)
        ]
        for t in helpers:
            t.start()
        try:
            chunk(0)
        finally:
            for t in helpers:
                t.join()
    if any(codes):
        # Arguments were checked above, so this is the core's own failure.
        raise NativeInternalError(
            "es_ed25519_verify_batch_vartime failed (out of memory or OS CSPRNG unavailable)"
        )
    return [v == 1 for v in bytes(ffi.buffer(verdicts))]
