"""C2SP tlog-cosignature, Ed25519 "cosignature/v1": a witness's timestamped signature.

The signed message is ``"cosignature/v1\\n" + "time <t>\\n" + checkpoint body``; the note
signature carries ``u64 big-endian timestamp || 64-byte Ed25519 signature`` after the key
ID, and the key ID uses signature type 0x04 (tlog-cosignature "Format" and "Ed25519
signed message").
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.native import ed25519
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.note import (
    NoteError,
    NoteSignature,
    decode_vkey,
    encode_vkey,
    key_id,
    public_key_bytes,
)

COSIGNATURE_TYPE = 0x04
MAX_TIMESTAMP = 2**63 - 1
_TIMESTAMP = struct.Struct(">Q")


def cosigned_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature/v1 signs."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside [0, 2^63 - 1]")
    head = f"cosignature/v1\ntime {timestamp}\n"
    return (head + checkpoint.body()).encode("utf-8")


class CosignatureSigner:
    """A witness's (or any cosigner's) Ed25519 key under ``name``."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = name
        self._private_key = private_key
        self.public_key = public_key_bytes(private_key)
        self.key_id = key_id(name, COSIGNATURE_TYPE, self.public_key)

    def verifier_key(self) -> str:
        return encode_vkey(self.name, COSIGNATURE_TYPE, self.public_key)

    def sign(self, checkpoint: Checkpoint, timestamp: int) -> NoteSignature:
        sig = self._private_key.sign(cosigned_message(checkpoint, timestamp))
        return NoteSignature(self.name, self.key_id, _TIMESTAMP.pack(timestamp) + sig)


class CosignatureVerifier:
    """Checks cosignature/v1 signatures of one cosigner key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise NoteError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
        self.name = name
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, COSIGNATURE_TYPE, self.public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        name, _kid, public_key = decode_vkey(vkey, COSIGNATURE_TYPE)
        return cls(name, public_key)

    def verifier_key(self) -> str:
        return encode_vkey(self.name, COSIGNATURE_TYPE, self.public_key)

    def matches(self, sig: NoteSignature) -> bool:
        return sig.name == self.name and sig.key_id == self.key_id

    def verify(self, checkpoint: Checkpoint, sig: NoteSignature) -> int | None:
        """The cosignature's timestamp if it is this key's valid cosignature, else None.

        A zero timestamp is refused: a witness must never omit it (tlog-witness
        "add-checkpoint"), and a checkpoint cosignature without a time says nothing.
        """
        if not self.matches(sig) or len(sig.signature) != 8 + 64:
            return None
        (timestamp,) = _TIMESTAMP.unpack(sig.signature[:8])
        if not 0 < timestamp <= MAX_TIMESTAMP:
            return None
        message = cosigned_message(checkpoint, timestamp)
        if not ed25519.verify(self.public_key, message, sig.signature[8:]):
            return None
        return int(timestamp)
