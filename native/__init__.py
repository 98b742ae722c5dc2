"""Typed Python API over edgeseal's C core.

Layers: C sources in ``native/src`` -> cffi modules ``native._hashing`` and
``native._ed25519`` (declarations only) -> the typed functions re-exported here,
which own argument checking and error messages. Callers never see cffi objects.
"""

# SHA-512 and Ed25519 verification (native/sha512.py, native/ed25519.py).
from edgeseal.native.ed25519 import PreparedKey, verify, verify_batch, verify_batch_packed
from edgeseal.native.errors import (
    NativeError,
    NativeInternalError,
    NativeTypeError,
    NativeValueError,
)

# Hashing and Merkle trees (native/hashing.py, native/merkle.py).
from edgeseal.native.hashing import (
    DispatchInfo,
    dispatch_info,
    sha256,
    sha256_many,
    sha256_many_packed,
)
from edgeseal.native.merkle import (
    consistency_proof,
    consistency_proof_packed,
    inclusion_proof,
    inclusion_proof_packed,
    leaf_hash,
    merkle_root,
    merkle_root_packed,
    node_hash,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_many,
)
from edgeseal.native.sha512 import sha512

__all__ = [
    "DispatchInfo",
    "NativeError",
    "NativeInternalError",
    "NativeTypeError",
    "NativeValueError",
    "PreparedKey",
    "consistency_proof",
    "consistency_proof_packed",
    "dispatch_info",
    "inclusion_proof",
    "inclusion_proof_packed",
    "leaf_hash",
    "merkle_root",
    "merkle_root_packed",
    "node_hash",
    "sha256",
    "sha256_many",
    "sha256_many_packed",
    "sha512",
    "verify",
    "verify_batch",
    "verify_batch_packed",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_many",
]
