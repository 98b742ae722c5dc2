"""native.sha256 / sha256_many against hashlib, on every SHA-256 variant this CPU runs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseal import native
from edgeseal.native import hashing
from edgeseal.native.errors import NativeTypeError, NativeValueError

VARIANTS = hashing.available_variants()
# Every length near a block boundary (55/56 decide whether padding needs a second
# block) and near the 64 KiB mark, where long inputs cross many blocks.
BOUNDARY_LENGTHS = sorted(
    {n + d for n in (55, 56, 64, 119, 120, 128, 4096, 65536, 1 << 20) for d in (-1, 0, 1)}
)


def test_portable_and_this_cpus_best_variant_are_available() -> None:
    assert "portable" in VARIANTS
    info = native.dispatch_info()
    assert info.active in VARIANTS
    if (
        "sha" in info.cpu_features
        and "ssse3" in info.cpu_features
        and "sse4.1" in info.cpu_features
    ):
        # The brief's machine has SHA-NI: the dispatcher must pick it by itself.
        assert "x86_shani" in VARIANTS
        if not info.forced_by_env:
            assert info.active == "x86_shani"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_length_up_to_1024(variant: str) -> None:
    data = random.Random(1).randbytes(1024)
    for n in range(1025):
        assert hashing.sha256(data[:n], variant=variant) == hashlib.sha256(data[:n]).digest(), n


@pytest.mark.parametrize("variant", VARIANTS)
def test_block_boundaries_and_random_large_lengths(variant: str) -> None:
    rng = random.Random(2)
    lengths = BOUNDARY_LENGTHS + [rng.randrange(1025, 3_000_000) for _ in range(6)]
    for n in lengths:
        data = rng.randbytes(n)
        assert hashing.sha256(data, variant=variant) == hashlib.sha256(data).digest(), n


@pytest.mark.parametrize("variant", VARIANTS)
def test_unaligned_inputs(variant: str) -> None:
    backing = bytearray(random.Random(3).randbytes(4096 + 64))
    view = memoryview(backing)
    for start in range(1, 17):
        for n in (0, 1, 63, 64, 65, 200, 4096):
            chunk = view[start : start + n]
            assert hashing.sha256(chunk, variant=variant) == hashlib.sha256(chunk).digest()


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_messages_of_mixed_lengths_in_one_call(variant: str) -> None:
    rng = random.Random(4)
    lengths = (
        list(range(300)) + BOUNDARY_LENGTHS[:12] + [rng.randrange(0, 5000) for _ in range(200)]
    )
    rng.shuffle(lengths)
    messages = [rng.randbytes(n) for n in lengths]
    expected = [hashlib.sha256(m).digest() for m in messages]
    assert hashing.sha256_many(messages, variant=variant) == expected
    # The packed form over one buffer, offsets as array('Q'), list and memoryview.
    buf = b"".join(messages)
    offsets = array("Q", [0])
    for m in messages:
        offsets.append(offsets[-1] + len(m))
    packed = b"".join(expected)
    assert hashing.sha256_many_packed(buf, offsets, variant=variant) == packed
    assert hashing.sha256_many_packed(buf, list(offsets), variant=variant) == packed
    assert (
        hashing.sha256_many_packed(memoryview(buf), memoryview(offsets), variant=variant) == packed
    )


def test_many_odd_counts_and_empty() -> None:
    # Up to four lanes: counts 0..9 leave lanes idle at the start and at the end.
    for count in range(10):
        messages = [bytes([i]) * (i * 37) for i in range(count)]
        assert native.sha256_many(messages) == [hashlib.sha256(m).digest() for m in messages]
    assert native.sha256_many_packed(b"", [0]) == b""


def test_packed_offsets_need_not_start_at_zero_and_may_leave_gaps() -> None:
    buf = b"xxhelloyyworld"
    got = native.sha256_many_packed(buf, [2, 7, 7])
    assert got == hashlib.sha256(b"hello").digest() + hashlib.sha256(b"").digest()


def test_many_accepts_mixed_bytes_like_and_iterables() -> None:
    items = [b"a", bytearray(b"bc"), memoryview(b"def"), array("B", b"gh")]
    expected = [hashlib.sha256(bytes(x)).digest() for x in items]
    assert native.sha256_many(items) == expected
    assert native.sha256_many(iter(items)) == expected
    wide = array("I", [1, 2, 3])  # 12 bytes, not 3
    assert native.sha256_many([wide]) == [hashlib.sha256(wide.tobytes()).digest()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=40))
def test_many_matches_hashlib_property(messages: list[bytes]) -> None:
    for variant in VARIANTS:
        got = hashing.sha256_many(messages, variant=variant)
        assert got == [hashlib.sha256(m).digest() for m in messages]


@pytest.mark.parametrize(
    "bad",
    ["text", 5, None, 3.5, [b"a"], memoryview(b"abcdef")[::2]],
    ids=["str", "int", "none", "float", "list", "non-contiguous"],
)
def test_sha256_rejects_non_bytes(bad: object) -> None:
    with pytest.raises(NativeTypeError) as err:
        native.sha256(bad)
    assert isinstance(err.value, TypeError)


def test_many_rejects_bad_items_naming_the_position() -> None:
    with pytest.raises(NativeTypeError, match=r"messages\[2\]"):
        native.sha256_many([b"a", b"b", "c"])
    with pytest.raises(NativeTypeError, match=r"messages\[1\]"):
        native.sha256_many([b"a", 7])
    with pytest.raises(NativeTypeError, match="single bytes"):
        native.sha256_many(b"abc")
    with pytest.raises(NativeTypeError):
        native.sha256_many(12)


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ([0, 3, 2], r"must not decrease: offsets\[2\] = 2 < offsets\[1\] = 3"),
        ([0, 3, 99], r"offsets\[2\] = 99 is past the end of the buffer \(5 bytes\)"),
        ([], "at least one"),
        ([0, -1], r"offsets\[1\] = -1 is outside"),
        ([0, 2**64], r"outside 0 \.\. 2\*\*64-1"),
    ],
)
def test_packed_rejects_bad_offsets(offsets: list[int], message: str) -> None:
    with pytest.raises(NativeValueError, match=message):
        native.sha256_many_packed(b"abcde", offsets)


def test_packed_rejects_wrong_offset_types() -> None:
    with pytest.raises(NativeTypeError, match="unsigned 64-bit"):
        native.sha256_many_packed(b"abcde", array("I", [0, 5]))
    with pytest.raises(NativeTypeError, match=r"offsets\[1\] must be an int"):
        native.sha256_many_packed(b"abcde", [0, 2.5])
    with pytest.raises(NativeTypeError):
        native.sha256_many_packed(b"abcde", b"\x00\x05")


def test_unknown_or_unavailable_variant_is_a_clear_error() -> None:
    with pytest.raises(NativeValueError, match="unknown SHA-256 variant 'avx9'"):
        hashing.sha256(b"", variant="avx9")
    missing = [v for v in hashing.VARIANTS if v not in VARIANTS]
    for variant in missing:  # on x86-64: arm_ce
        with pytest.raises(NativeValueError, match="cannot run on this CPU"):
            hashing.sha256(b"", variant=variant)


def _info_in_subprocess(env_value: str | None) -> dict[str, object]:
    env = dict(os.environ)
    env.pop(hashing.ENV_VARIANT, None)
    if env_value is not None:
        env[hashing.ENV_VARIANT] = env_value
    code = (
        "import json, dataclasses, hashlib\nfrom edgeseal import native\n"
        "assert native.sha256(b'abc') == hashlib.sha256(b'abc').digest()\n"
        "print(json.dumps(dataclasses.asdict(native.dispatch_info())))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout))


def test_environment_variable_forces_the_portable_variant() -> None:
    info = _info_in_subprocess("portable")
    assert info["active"] == "portable"
    assert info["forced_by_env"] is True


def test_environment_variable_with_unknown_name_leaves_the_cpu_choice() -> None:
    auto = _info_in_subprocess(None)
    assert auto["forced_by_env"] is False
    bogus = _info_in_subprocess("no-such-variant")
    assert bogus["active"] == auto["active"]
    assert bogus["forced_by_env"] is False


def test_the_variant_is_chosen_when_the_library_loads_not_at_the_first_call() -> None:
    # The C core reads EDGESEAL_SHA256 once, when the extension loads: a later change of
    # the environment (another thread writing os.environ while a hash runs without the
    # GIL) must neither race getenv() nor change the choice.
    env = dict(os.environ)
    env[hashing.ENV_VARIANT] = "portable"
    code = (
        "import os\n"
        "from edgeseal.native import _hashing\n"
        f"os.environ[{hashing.ENV_VARIANT!r}] = 'no-such-variant'\n"
        "from edgeseal import native\n"
        "print(native.dispatch_info().active)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "portable"
