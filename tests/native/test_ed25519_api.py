"""Argument handling of the Ed25519 API: clear errors for malformed calls, False for
malformed items, and nothing lost for the well-formed items next to them."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from array import array
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeseal import native
from edgeseal.native import ed25519


def _items(count: int) -> tuple[bytes, list[bytes], list[bytes]]:
    sk = Ed25519PrivateKey.from_private_bytes(b"\x42" * 32)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    msgs = [f"reading {i}".encode() for i in range(count)]
    return pk, msgs, [sk.sign(m) for m in msgs]


def _offsets(msgs: list[bytes]) -> array[int]:
    offsets = array("Q", [0])
    for m in msgs:
        offsets.append(offsets[-1] + len(m))
    return offsets


def test_verify_accepts_every_bytes_like_type() -> None:
    pk, msgs, sigs = _items(1)
    assert native.verify(pk, msgs[0], sigs[0])
    assert native.verify(bytearray(pk), memoryview(msgs[0]), bytearray(sigs[0]))
    assert native.verify_batch([memoryview(pk)], [bytearray(msgs[0])], [memoryview(sigs[0])]) == [
        True
    ]


@pytest.mark.parametrize(
    "pk_len, sig_len", [(31, 64), (33, 64), (0, 64), (32, 63), (32, 65), (32, 0)]
)
def test_wrong_lengths_are_false_not_errors(pk_len: int, sig_len: int) -> None:
    pk, msgs, sigs = _items(1)
    key = (pk + b"\x00")[:pk_len]
    sig = (sigs[0] + b"\x00")[:sig_len]
    assert native.verify(key, msgs[0], sig) is False
    assert native.verify_batch([key], [msgs[0]], [sig]) == [False]


def test_malformed_items_do_not_disturb_their_neighbours() -> None:
    pk, msgs, sigs = _items(6)
    keys = [pk] * 6
    keys[1] = pk[:31]
    sigs = list(sigs)
    sigs[4] = sigs[4] + b"\x00"
    assert native.verify_batch(keys, msgs, sigs) == [True, False, True, True, False, True]


def test_list_lengths_must_agree() -> None:
    pk, msgs, sigs = _items(3)
    with pytest.raises(native.NativeValueError, match="3 keys, 2 messages, 3 signatures"):
        native.verify_batch([pk] * 3, msgs[:2], sigs)


@pytest.mark.parametrize("bad", ["text", 5, None])
def test_non_bytes_items_are_type_errors(bad: object) -> None:
    pk, msgs, sigs = _items(2)
    with pytest.raises(native.NativeTypeError, match=r"messages\[1\] must be bytes"):
        native.verify_batch([pk, pk], [msgs[0], bad], sigs)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        native.verify(pk, bad, sigs[0])  # type: ignore[arg-type]


def test_empty_batches() -> None:
    assert native.verify_batch([], [], []) == []
    assert native.verify_batch_packed(b"", b"", b"", [0]) == []


def test_packed_offsets_as_list_or_buffer() -> None:
    pk, msgs, sigs = _items(5)
    offsets = _offsets(msgs)
    blob = b"".join(msgs)
    assert native.verify_batch_packed(pk, b"".join(sigs), blob, offsets) == [True] * 5
    assert native.verify_batch_packed(pk, b"".join(sigs), blob, list(offsets)) == [True] * 5
    # Offsets need not start at 0: the messages may sit inside a larger buffer.
    shifted = array("Q", [o + 3 for o in offsets])
    assert native.verify_batch_packed(pk, b"".join(sigs), b"xyz" + blob, shifted) == [True] * 5


def test_packed_argument_errors() -> None:
    pk, msgs, sigs = _items(4)
    blob, sig_blob, offsets = b"".join(msgs), b"".join(sigs), _offsets(msgs)
    with pytest.raises(native.NativeValueError, match="multiple of 64"):
        native.verify_batch_packed(pk, sig_blob[:-1], blob, offsets)
    with pytest.raises(native.NativeValueError, match="one 32-byte key or one per signature"):
        native.verify_batch_packed(pk * 2, sig_blob, blob, offsets)
    with pytest.raises(native.NativeValueError, match="n \\+ 1 = 5 entries"):
        native.verify_batch_packed(pk, sig_blob, blob, offsets[:-1])
    with pytest.raises(native.NativeValueError, match="past the end of messages"):
        native.verify_batch_packed(pk, sig_blob, blob[:-1], offsets)
    decreasing = array("Q", offsets)
    decreasing[2], decreasing[3] = decreasing[3], decreasing[2]
    with pytest.raises(native.NativeValueError, match="non-decreasing"):
        native.verify_batch_packed(pk, sig_blob, blob, decreasing)
    with pytest.raises(native.NativeValueError, match="non-negative"):
        native.verify_batch_packed(pk, sig_blob, blob, [0, -1, 5, 6, 7])
    with pytest.raises(native.NativeTypeError, match="unsigned integers"):
        native.verify_batch_packed(pk, sig_blob, blob, array("i", offsets))
    with pytest.raises(native.NativeTypeError, match="unsigned integers"):
        native.verify_batch_packed(pk, sig_blob, blob, bytes(8 * len(offsets)))
    with pytest.raises(native.NativeTypeError, match="signatures must be bytes"):
        native.verify_batch_packed(pk, "x" * 256, blob, offsets)  # type: ignore[arg-type]
    for threads in (0, -1, 1.5):
        with pytest.raises(native.NativeValueError, match="threads"):
            native.verify_batch_packed(pk, sig_blob, blob, offsets, threads=threads)  # type: ignore[arg-type]
    # After all those rejected calls the same data still verifies.
    assert native.verify_batch_packed(pk, sig_blob, blob, offsets) == [True] * 4


def test_offsets_of_any_unsigned_width_are_accepted() -> None:
    # array('Q') is what a 64-bit caller builds; on a 32-bit gateway size_t is
    # 4 bytes and the offsets are converted instead of rejected.
    pk, msgs, sigs = _items(3)
    offsets = _offsets(msgs)
    for code in ("Q", "L", "I"):
        got = native.verify_batch_packed(pk, b"".join(sigs), b"".join(msgs), array(code, offsets))
        assert got == [True] * 3, code


def test_threads_larger_than_the_batch_is_fine() -> None:
    pk, msgs, sigs = _items(3)
    assert native.verify_batch([pk] * 3, msgs, sigs, threads=64) == [True] * 3


def test_prepared_key_rejects_unusable_keys_clearly() -> None:
    pk, msgs, sigs = _items(2)
    prepared = native.PreparedKey.of(bytearray(pk))
    assert prepared.public_key == pk
    assert prepared.verify(msgs[0], sigs[0]) and not prepared.verify(msgs[1], sigs[0])
    assert prepared.verify(msgs[0], sigs[0][:63]) is False
    with pytest.raises(native.NativeValueError, match="32 bytes"):
        native.PreparedKey.of(pk[:31])
    with pytest.raises(native.NativeValueError, match="not a valid Ed25519 key"):
        native.PreparedKey.of(bytes(32))  # y = 0: a point of order 4
    with pytest.raises(native.NativeTypeError):
        native.PreparedKey.of("not bytes")  # type: ignore[arg-type]
    # Direct construction prepares too; the prepared form cannot be supplied.
    assert native.PreparedKey(pk) == prepared
    with pytest.raises(native.NativeValueError, match="not a valid Ed25519 key"):
        native.PreparedKey(bytes(32))
    with pytest.raises(TypeError):
        native.PreparedKey(pk, b"")  # type: ignore[call-arg]


def _run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    """Runs code in a fresh interpreter, so a crash of the C core fails the test
    instead of killing the test run."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


_BATCH_256 = """
import subprocess
import sys
from array import array
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from edgeseal import native
sk = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
msgs = [b"reading %d" % i for i in range(256)]
sigs, blob = b"".join(sk.sign(m) for m in msgs), b"".join(msgs)
offsets = array("Q", [0])
for m in msgs:
    offsets.append(offsets[-1] + len(m))
"""


@pytest.mark.parametrize("value", ["1 << 40", "len(blob) + 64"], ids=["huge", "just-past-end"])
def test_offset_past_the_end_inside_a_threaded_batch_is_refused(value: str) -> None:
    # offsets[128] starts the second thread's chunk: it used to be read by C
    # without ever being compared with the buffer (a segfault for 1 << 40, a
    # silent read past the end for len + 64).
    call = f"""
offsets[128] = {value}
try:
    native.verify_batch_packed(pk, sigs, blob, offsets, threads=2)
except native.NativeValueError as exc:
    print("refused:", exc)
"""
    run = _run_isolated(_BATCH_256 + call)
    assert run.returncode == 0, f"crashed ({run.returncode}):\n{run.stderr[-2000:]}"
    assert "refused: offsets[128] =" in run.stdout and "past the end of messages" in run.stdout


def test_every_offset_is_checked_before_the_batch_is_split() -> None:
    pk, msgs, sigs = _items(300)
    blob, offsets = b"".join(msgs), _offsets(msgs)
    for pos in (1, 150, 299):
        bad = array("Q", offsets)
        bad[pos] = len(blob) + 1
        with pytest.raises(native.NativeValueError, match=rf"offsets\[{pos}\] = .* past the end"):
            native.verify_batch_packed(pk, b"".join(sigs), blob, bad, threads=2)


@pytest.mark.parametrize("which", ["public_keys", "messages", "signatures"])
def test_strided_memoryview_items_are_native_type_errors(which: str) -> None:
    pk, msgs, sigs = _items(2)
    args: dict[str, list[bytes | memoryview]] = {
        "public_keys": [pk, pk],
        "messages": list(msgs),
        "signatures": list(sigs),
    }
    item = args[which][1]
    args[which][1] = memoryview(bytes(item) * 2)[::2]  # strided: every other byte
    with pytest.raises(native.NativeTypeError, match=rf"{which}\[1\] must be a contiguous"):
        native.verify_batch(args["public_keys"], args["messages"], args["signatures"])


def test_strided_packed_buffers_are_native_type_errors() -> None:
    pk, msgs, sigs = _items(2)
    strided = memoryview(b"".join(sigs) * 2)[::2]
    with pytest.raises(native.NativeTypeError, match="signatures must be a contiguous"):
        native.verify_batch_packed(pk, strided, b"".join(msgs), _offsets(msgs))


def test_threads_are_capped_at_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # threads=10**6 used to start one OS thread per 128 items, however many CPUs.
    started: list[str] = []
    real_thread = threading.Thread

    def counting_thread(*args: Any, **kwargs: Any) -> threading.Thread:
        started.append(str(kwargs.get("name")))
        return real_thread(*args, **kwargs)

    monkeypatch.setattr(threading, "Thread", counting_thread)
    cpus = len(os.sched_getaffinity(0))
    pk, msgs, sigs = _items(ed25519.MIN_ITEMS_PER_THREAD * (cpus + 3))
    assert native.verify_batch([pk] * len(msgs), msgs, sigs, threads=10**6) == [True] * len(msgs)
    assert len(started) <= cpus - 1  # the calling thread takes one chunk itself
    with pytest.raises(native.NativeValueError, match="threads"):
        native.verify_batch([pk], msgs[:1], sigs[:1], threads=True)


def test_prepared_key_cannot_be_handed_a_foreign_prepared_form() -> None:
    pk, msgs, sigs = _items(2)
    sk2 = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    pk2 = sk2.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    prepared = native.PreparedKey(pk)
    other = native.PreparedKey(pk2)
    # Immutable: nothing can be set, and there is no field to replace.
    with pytest.raises(AttributeError):
        prepared._prepared = other._prepared
    with pytest.raises(AttributeError):
        prepared.public_key = pk2  # type: ignore[misc]
    # Pickling carries the public key only and prepares it again.
    restored = pickle.loads(pickle.dumps(prepared))
    assert restored == prepared and restored.public_key == pk
    assert restored.verify(msgs[0], sigs[0])
    # Even a prepared form forced in behind the class's back is checked by C:
    # the x coordinate of another key (or a flipped bit) is refused, not used.
    forged = pk + other._prepared[32:]
    object.__setattr__(prepared, "_prepared", forged)
    with pytest.raises(native.NativeInternalError, match="refused"):
        prepared.verify(msgs[0], sigs[0])
    object.__setattr__(prepared, "_prepared", prepared._prepared[:63])
    with pytest.raises(native.NativeInternalError, match="refused"):
        prepared.verify(msgs[0], sigs[0])
