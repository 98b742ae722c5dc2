"""atheris fuzz target: native Ed25519 verification against libsodium (PyNaCl).

Each input is read as a short program of edits (FuzzedDataProvider) applied to an
honest signature: bit flips in A, R, S or the message, S + j*L, R or A replaced by
a point of small order (canonical or not), 32 raw fuzz bytes over A, R or S,
truncation or extension. Inputs therefore stay close to valid signatures, where
the interesting bugs live, instead of being random noise. For every input:
  - native.verify, a batch of one and a batch mixed with valid signatures agree;
  - the verdict equals libsodium's, or, where they differ, equals the plain-Python
    statement of docs/verification-policy.md (tests/native/ed25519_reference.py).

Run longer by hand (seed corpus written on first use):
    python3 tests/native/fuzz_ed25519.py -max_total_time=600 /tmp/ed25519-corpus
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import ed25519_reference
    from nacl.exceptions import BadSignatureError
    from nacl.signing import SigningKey, VerifyKey

from edgeseal import native

_KEY = SigningKey(b"\x07" * 32)
_PK = bytes(_KEY.verify_key)
_MSG = b"edgeseal reading 42"
_SIG = _KEY.sign(_MSG).signature
_FILLER = [(_PK, m, _KEY.sign(m).signature) for m in (b"a", b"bb", b"ccc")]


def _libsodium(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(pk).verify(msg, sig)
    except (BadSignatureError, ValueError, TypeError):  # or malformed lengths
        return False
    return True


def _torsion_encodings() -> list[bytes]:
    """Encodings of the 8 points of order dividing 8, plus their non-canonical twins."""
    ref = ed25519_reference
    gen = ref.decode(
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
    )
    assert gen is not None
    out, point = [], ref.IDENTITY
    for _ in range(8):
        x, y = point
        out.append((y | ((x & 1) << 255)).to_bytes(32, "little"))
        if y < 19:  # y + p still fits in 255 bits: a non-canonical encoding
            out.append(((y + ref.P) | ((x & 1) << 255)).to_bytes(32, "little"))
        point = ref._add(point, gen)
    return out


_TORSION = _torsion_encodings()
_BASES = [(_PK, _MSG, _SIG), *_FILLER]


def _flip(buf: bytearray, bit: int) -> None:
    if buf:
        bit %= 8 * len(buf)
        buf[bit // 8] ^= 1 << (bit % 8)


@atheris.instrument_func
def mutate(data: bytes) -> tuple[bytes, bytes, bytes]:
    fdp = atheris.FuzzedDataProvider(data)
    pk_b, msg_b, sig_b = _BASES[fdp.ConsumeIntInRange(0, len(_BASES) - 1)]
    pk, msg, sig = bytearray(pk_b), bytearray(msg_b), bytearray(sig_b)
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        op = fdp.ConsumeIntInRange(0, 9)
        where = fdp.ConsumeIntInRange(0, 1023)
        if op == 0:
            _flip(pk, where)
        elif op == 1:
            _flip(sig, where % 256)
        elif op == 2:
            _flip(sig, 256 + where % 256)
        elif op == 3:
            if msg:
                _flip(msg, where)
            else:
                msg.append(where & 0xFF)
        elif op == 4 and len(sig) >= 64:
            s = int.from_bytes(sig[32:64], "little") + (1 + where % 8) * ed25519_reference.L
            sig[32:64] = (s % 2**256).to_bytes(32, "little")
        elif op == 5:
            sig[:32] = _TORSION[where % len(_TORSION)]
        elif op == 6:
            pk[:] = _TORSION[where % len(_TORSION)]
        elif op == 7:
            raw = fdp.ConsumeBytes(32).ljust(32, b"\x00")
            target = where % 3
            if target == 0:
                pk[:32] = raw
            else:
                sig[32 * (target - 1) : 32 * target] = raw
        elif op == 8:
            del sig[where % (len(sig) + 1) :]
        elif op == 9:
            sig.extend(fdp.ConsumeBytes(1 + where % 4))
    return bytes(pk), bytes(msg), bytes(sig)


@atheris.instrument_func
def check(data: bytes) -> None:
    pk, msg, sig = mutate(data)
    single = native.verify(pk, msg, sig)
    alone = native.verify_batch([pk], [msg], [sig])
    keys, msgs, sigs = zip(*(_FILLER[:2] + [(pk, msg, sig)] + _FILLER[2:]))
    mixed = native.verify_batch(list(keys), list(msgs), list(sigs))
    if alone != [single] or mixed != [True, True, single, True]:
        raise AssertionError(
            f"paths disagree on {(pk + sig + msg).hex()}: {single} {alone} {mixed}"
        )
    sodium = _libsodium(pk, msg, sig)
    if single != sodium and single != ed25519_reference.verify(pk, msg, sig):
        raise AssertionError(
            f"native={single} libsodium={sodium} and the policy differs: pk={pk.hex()} "
            f"sig={sig.hex()} msg={msg.hex()}"
        )


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(8):
        (directory / f"seed-{i}").write_bytes(bytes([i % len(_BASES), 1, i, 7 * i, 1]))


def main(argv: list[str]) -> None:
    dirs = [a for a in argv[1:] if not a.startswith("-")]
    if dirs:
        seed_corpus(Path(dirs[0]))
    atheris.Setup(argv, lambda data: check(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
