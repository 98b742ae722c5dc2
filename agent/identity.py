"""The gateway's Ed25519 identity: key files on disk, public key and key id.

The private key is a PKCS#8 PEM file readable only by its owner (mode 0600). A key
file that group or others can read is refused: a copied key would let anyone forge
readings in this gateway's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.seal import raw_public_key
from edgeseal.plumbing.keyfile import KeyFileError, load_private_key, save_private_key
from edgeseal.wire.batch import key_id_of

__all__ = ["GatewayKey", "KeyFileError", "load_key", "save_key"]


@dataclass(frozen=True)
class GatewayKey:
    """A loaded signing key with the public values the back end enrols."""

    private_key: Ed25519PrivateKey
    public_key: bytes  # raw 32 bytes
    key_id: bytes  # 16 bytes, see docs/formats.md
    path: Path | None = None

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey, path: Path | None = None) -> GatewayKey:
        public = raw_public_key(key)
        return cls(private_key=key, public_key=public, key_id=key_id_of(public), path=path)

    @classmethod
    def generate(cls) -> GatewayKey:
        return cls.from_private_key(Ed25519PrivateKey.generate())


def save_key(key: GatewayKey, path: Path) -> None:
    """Write ``key`` to a new file with mode 0600; never overwrites an existing file."""
    save_private_key(key.private_key, path, what="gateway key")


def load_key(path: Path) -> GatewayKey:
    """Load a gateway key, refusing files that others can read."""
    return GatewayKey.from_private_key(load_private_key(path, what="gateway key"), path)
