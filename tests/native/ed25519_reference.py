"""A slow, plain-Python statement of docs/verification-policy.md, used as the oracle
where the native core and libsodium are allowed to differ (the fuzz target and tests).

Affine twisted Edwards arithmetic from RFC 8032 5.1 on Python integers; no
attempt at speed or constant time. Not used in production.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def _add(p: Point, q: Point) -> Point:
    (x1, y1), (x2, y2) = p, q
    t = D * x1 * x2 * y1 * y2 % P
    return (
        (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P,
        (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P,
    )


def _mul(k: int, p: Point) -> Point:
    acc = IDENTITY
    while k:
        if k & 1:
            acc = _add(acc, p)
        p = _add(p, p)
        k >>= 1
    return acc


def decode(s: bytes) -> Point | None:
    """RFC 8032 5.1.3, rejecting non-canonical y and x = 0 with the sign bit set."""
    y = int.from_bytes(s, "little") & ((1 << 255) - 1)
    sign = s[31] >> 7
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P:
        if (v * x * x + u) % P:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


BASE = decode((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))
assert BASE is not None


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a, r = decode(public_key), decode(signature[:32])
    if a is None or r is None or _mul(8, a) == IDENTITY:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    neg_ka = _mul(k, a)
    neg_ka = ((P - neg_ka[0]) % P, neg_ka[1])
    neg_r = ((P - r[0]) % P, r[1])
    assert BASE is not None
    return _mul(8, _add(_add(_mul(s, BASE), neg_ka), neg_r)) == IDENTITY
