"""atheris fuzz target: native Ed25519 verification against libsodium (PyNaCl).

Input layout: public key (32 bytes) || signature (64 bytes) || message. Shorter
inputs are completed from an honest signature, so mutations of the seed corpus
stay close to valid signatures, where bugs live. For every input:
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
    from nacl.signing import SigningKey, VerifyKey

import native

_KEY = SigningKey(b"\x07" * 32)
_PK = bytes(_KEY.verify_key)
_MSG = b"edgeseal reading 42"
_SIG = _KEY.sign(_MSG).signature
_FILLER = [(_PK, m, _KEY.sign(m).signature) for m in (b"a", b"bb", b"ccc")]


def _libsodium(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(pk).verify(msg, sig)
    except Exception:  # BadSignatureError, or malformed lengths
        return False
    return True


def check(data: bytes) -> None:
    blob = data + (_PK + _SIG + _MSG)[len(data) :] if len(data) < 96 else data
    pk, sig, msg = blob[:32], blob[32:96], blob[96:]
    single = native.verify(pk, msg, sig)
    alone = native.verify_batch([pk], [msg], [sig])
    keys, msgs, sigs = zip(*(_FILLER[:2] + [(pk, msg, sig)] + _FILLER[2:]))
    mixed = native.verify_batch(list(keys), list(msgs), list(sigs))
    if alone != [single] or mixed != [True, True, single, True]:
        raise AssertionError(f"paths disagree on {blob.hex()}: {single} {alone} {mixed}")
    sodium = _libsodium(pk, msg, sig)
    if single != sodium and single != ed25519_reference.verify(pk, msg, sig):
        raise AssertionError(f"native={single} libsodium={sodium} and policy differs: {blob.hex()}")


def seed_corpus(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (pk, msg, sig) in enumerate([(_PK, _MSG, _SIG), *_FILLER]):
        (directory / f"seed-{i}").write_bytes(pk + sig + msg)


def main(argv: list[str]) -> None:
    dirs = [a for a in argv[1:] if not a.startswith("-")]
    if dirs:
        seed_corpus(Path(dirs[0]))
    atheris.Setup(argv, lambda data: check(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
