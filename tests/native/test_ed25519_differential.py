"""Differential tests: native Ed25519 against libsodium (PyNaCl) and OpenSSL (cryptography).

Honest signatures and every kind of corruption an attacker or a faulty link can
produce (bit flips in R, S, A and the message, S + L, truncated and over-long
signatures, swapped keys) must get libsodium's verdict from every entry point,
and batches with bad items at random positions must flag exactly those items.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ed25519_cases import Case, libsodium_verdict, openssl_verdict

from edgeseal import native

L = 2**252 + 27742317777372353535851937790883648493

Item = tuple[bytes, bytes, bytes]  # public key, message, signature


def _keys(rng: random.Random, count: int) -> list[tuple[Ed25519PrivateKey, bytes]]:
    out = []
    for _ in range(count):
        sk = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        out.append((sk, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)))
    return out


def _signed(
    rng: random.Random, keys: list[tuple[Ed25519PrivateKey, bytes]], count: int
) -> list[Item]:
    items = []
    for i in range(count):
        sk, pk = keys[i % len(keys)]
        msg = rng.randbytes(rng.choice([0, 1, 31, 64, 100, 300]))
        items.append((pk, msg, sk.sign(msg)))
    return items


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _mutations(rng: random.Random, item: Item) -> list[tuple[str, Item]]:
    pk, msg, sig = item
    s_plus_l = (int.from_bytes(sig[32:], "little") + L).to_bytes(32, "little")
    msg_bit = _flip(msg, rng.randrange(8 * len(msg))) if msg else b"\x00"
    return [
        ("R-bit", (pk, msg, _flip(sig, rng.randrange(256)))),
        ("S-bit", (pk, msg, _flip(sig, 256 + rng.randrange(256)))),
        ("A-bit", (_flip(pk, rng.randrange(256)), msg, sig)),
        ("message-bit", (pk, msg_bit, sig)),
        ("S-plus-L", (pk, msg, sig[:32] + s_plus_l)),
        ("truncated", (pk, msg, sig[:63])),
        ("over-long", (pk, msg, sig + b"\x00")),
        ("short-key", (pk[:31], msg, sig)),
    ]


def _reference(item: Item) -> bool:
    case = Case("x", item[0], item[1], item[2], "", "")
    sodium = libsodium_verdict(case)
    assert openssl_verdict(case) == sodium, f"libsodium and OpenSSL disagree on {item!r}"
    return sodium


def test_honest_and_corrupted_signatures_match_libsodium_everywhere() -> None:
    rng = random.Random(25519)
    keys = _keys(rng, 40)
    items: list[tuple[str, Item]] = []
    for item in _signed(rng, keys, 300):
        items.append(("honest", item))
        items.extend(_mutations(rng, item))
    expected = [_reference(item) for _, item in items]
    assert sum(expected) == 300  # corruptions never verify; honest ones always do
    for (kind, item), want in zip(items, expected):
        assert native.verify(*item) == want, f"{kind}: {item!r}"
        try:
            prepared = native.PreparedKey.of(item[0])
        except native.NativeValueError:
            assert not want, f"{kind}: valid signature under a key PreparedKey rejects"
        else:
            assert prepared.verify(item[1], item[2]) == want, f"{kind} (prepared key): {item!r}"
    keys_l, msgs, sigs = (list(col) for col in zip(*(item for _, item in items)))
    assert native.verify_batch(keys_l, msgs, sigs) == expected
    assert native.verify_batch(keys_l, msgs, sigs, threads=2) == expected


def test_wrong_key_for_a_valid_signature_is_rejected() -> None:
    rng = random.Random(7)
    keys = _keys(rng, 2)
    pk_other = keys[1][1]
    items = [(pk_other, m, s) for _, m, s in _signed(rng, keys[:1], 20)]
    assert [native.verify(*it) for it in items] == [_reference(it) for it in items] == [False] * 20


def _packed(items: list[Item], one_key: bool) -> tuple[bytes, bytes, bytes, array]:
    offsets = array("Q", [0])
    for _, m, _ in items:
        offsets.append(offsets[-1] + len(m))
    keys = items[0][0] if one_key else b"".join(k for k, _, _ in items)
    return keys, b"".join(s for _, _, s in items), b"".join(m for _, m, _ in items), offsets


BatchFn = Callable[[list[Item], int], list[bool]]


def _list_form(items: list[Item], threads: int) -> list[bool]:
    keys, msgs, sigs = (list(col) for col in zip(*items))
    return native.verify_batch(keys, msgs, sigs, threads=threads)


def _packed_one_key(items: list[Item], threads: int) -> list[bool]:
    return native.verify_batch_packed(*_packed(items, one_key=True), threads=threads)


def _packed_many_keys(items: list[Item], threads: int) -> list[bool]:
    return native.verify_batch_packed(*_packed(items, one_key=False), threads=threads)


# Sizes around the Straus/Pippenger switch (48 terms) and beyond.
@pytest.mark.parametrize("size", [1, 2, 5, 16, 45, 47, 48, 49, 64, 130, 400])
@pytest.mark.parametrize("distinct_keys", [1, 3, 0], ids=["same-key", "three-keys", "all-distinct"])
def test_batches_flag_exactly_the_bad_items(size: int, distinct_keys: int) -> None:
    rng = random.Random(size * 1000 + distinct_keys)
    keys = _keys(rng, distinct_keys or size)
    items = _signed(rng, keys, size)
    for bad_count in sorted({c for c in (0, 1, 2, 5, size // 3, size) if c <= size}):
        bad = set(rng.sample(range(size), bad_count))
        batch = list(items)
        for i in bad:
            _kind, mutated = rng.choice(_mutations(rng, batch[i])[:5])  # same lengths
            batch[i] = mutated
        want = [i not in bad for i in range(size)]
        forms: list[BatchFn] = [_list_form, _packed_many_keys]
        if distinct_keys == 1 and not any(b[0] != items[0][0] for b in batch):
            forms.append(_packed_one_key)
        for form in forms:
            for threads in (1, 2):
                got = form(batch, threads)
                assert got == want, (
                    f"{form.__name__} threads={threads}: wrong verdicts at "
                    f"{[i for i in range(size) if got[i] != want[i]]}"
                )


def test_one_key_packed_batch_with_a_key_flip_rejects_everything() -> None:
    rng = random.Random(99)
    keys = _keys(rng, 1)
    items = _signed(rng, keys, 64)
    pk, sigs, msgs, offsets = _packed(items, one_key=True)
    assert native.verify_batch_packed(pk, sigs, msgs, offsets) == [True] * 64
    assert native.verify_batch_packed(_flip(pk, 5), sigs, msgs, offsets) == [False] * 64
