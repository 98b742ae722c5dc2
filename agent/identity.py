"""The gateway's Ed25519 identity: key files on disk, public key and key id.

The private key is a PKCS#8 PEM file readable only by its owner (mode 0600). A key
file that group or others can read is refused: a copied key would let anyone forge
readings in this gateway's name.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from edgeseal.agent.seal import raw_public_key
from edgeseal.wire.batch import key_id_of


class KeyFileError(RuntimeError):
    """A key file is missing, unreadable, unsafe or not an Ed25519 key."""


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
    pem = key.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        # O_EXCL: refuse to replace a key that may already be enrolled at the back end.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; refusing to overwrite a gateway key "
            "(move it away first if you really mean to replace it)"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it further; never widen
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key(path: Path) -> GatewayKey:
    """Load a gateway key, refusing files that others can read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KeyFileError(
            f"gateway key {path} does not exist; create it with 'edgeseal keygen --out {path}'"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot access gateway key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"gateway key {path} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"gateway key {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must not be "
            f"accessible by group or others: run 'chmod 600 {path}'"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read gateway key {path}: {exc.strerror}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"gateway key {path} is not an unencrypted PEM private key: {exc}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"gateway key {path} holds a {type(key).__name__}, not an Ed25519 key")
    return GatewayKey.from_private_key(key, path)
