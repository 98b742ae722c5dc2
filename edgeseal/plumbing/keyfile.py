"""Ed25519 private key files (PKCS#8 PEM, mode 0600), for the gateway's and the verifier's keys.

A key file that group or others can access is refused: a copied gateway key lets
anyone forge readings in the gateway's name, a copied verifier key lets anyone forge
verdicts (and make gateways forget batches). ``what`` names the key in messages
("gateway key", "verifier key").
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)


class KeyFileError(RuntimeError):
    """A key file is missing, unreadable, unsafe or not an Ed25519 key."""


def save_private_key(key: Ed25519PrivateKey, path: Path, *, what: str = "key") -> None:
    """Write ``key`` to a new file with mode 0600; never overwrites an existing file."""
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        # O_EXCL: refuse to replace a key that may already be enrolled or configured.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; refusing to overwrite a {what} "
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


def load_private_key(path: Path, *, what: str = "key") -> Ed25519PrivateKey:
    """Load an Ed25519 private key, refusing files that others can access."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KeyFileError(
            f"{what} {path} does not exist; create it with 'edgeseal keygen --out {path}'"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot access {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{what} {path} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"{what} {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must not be "
            f"accessible by group or others: run 'chmod 600 {path}'"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{what} {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{what} {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
