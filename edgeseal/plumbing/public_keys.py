"""Ed25519 public keys written in configuration files: 64 hex digits, checked at load.

The gateway keys the verifier enrols and the verifier key the agent trusts for its
verdicts are both checked here, by the native core's own rules (canonical encoding, a
point on the curve, not of small order). No signature can verify under a key those
rules refuse, so such a key is a mistake in the file: the service stops at start with
one line naming the key, instead of running and refusing everything.
"""

from __future__ import annotations

from edgeseal.native import NativeValueError, PreparedKey
from edgeseal.plumbing.config_toml import ConfigError


def parse_public_key(text: object, where: str) -> bytes:
    """The raw 32-byte key in ``text`` (64 hex digits); ConfigError naming ``where``."""
    if not isinstance(text, str):
        raise ConfigError(f"{where} = {text!r}: expected 64 hex digits (a raw Ed25519 public key)")
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not hexadecimal") from None
    if len(raw) != 32:
        raise ConfigError(
            f"{where}: public key is {len(raw)} bytes; an Ed25519 key is 32 (64 hex digits)"
        )
    try:
        PreparedKey(raw)  # one point decompression: the checks every verification makes
    except NativeValueError:
        raise ConfigError(
            f"{where} = {text.strip()!r}: not a valid Ed25519 public key (not a canonical "
            "encoding of a curve point, or a point of small order such as the identity); "
            "copy the key `edgeseal keygen` printed"
        ) from None
    return raw
