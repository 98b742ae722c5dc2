"""Independent RFC 9162 section 2.1 reference in plain Python (hashlib), for tests.

Written from the RFC's recursive definitions, deliberately unlike the C core (which
works bottom up): MTH, PATH and PROOF recurse on the split point, and the two
verifiers follow the RFC's step lists. Subtree hashes are memoised per (lo, hi) so
proofs for trees of 100k leaves stay affordable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """A fixed list of leaves with RFC 9162 MTH, PATH and PROOF."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = [bytes(x) for x in leaves]
        self._mth = lru_cache(maxsize=None)(self._mth_uncached)

    def _mth_uncached(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return leaf_hash(self.leaves[lo])
        k = split(n)
        return node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        return self._mth(0, len(self.leaves) if size is None else size)

    def path(self, m: int, lo: int = 0, hi: int | None = None) -> list[bytes]:
        hi = len(self.leaves) if hi is None else hi
        n = hi - lo
        if n <= 1:
            return []
        k = split(n)
        if m < k:
            return self.path(m, lo, lo + k) + [self._mth(lo + k, hi)]
        return self.path(m - k, lo + k, hi) + [self._mth(lo, lo + k)]

    def proof(self, m: int, size: int | None = None) -> list[bytes]:
        n = len(self.leaves) if size is None else size
        if m == 0 or m == n:
            return []
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self._mth(lo, hi)]
        k = split(n)
        if m <= k:
            return self._subproof(m, lo, lo + k, b) + [self._mth(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self._mth(lo, lo + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2, plus the edge cases old == new and old == 0."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == hashlib.sha256(b"").digest()
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
