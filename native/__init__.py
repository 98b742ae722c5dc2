"""Typed Python API over edgeseal's C core.

Layers: C sources in ``native/src`` -> cffi modules ``native._hashing`` and
``native._ed25519`` (declarations only) -> the typed functions re-exported here,
which own argument checking and error messages. Callers never see cffi objects.
"""

from native.errors import NativeError, NativeInternalError, NativeTypeError, NativeValueError

# Hashing and Merkle trees (native/hashing.py, native/merkle.py) are imported below.
# Ed25519 (native/ed25519.py) is imported below.

__all__ = [
    "NativeError",
    "NativeInternalError",
    "NativeTypeError",
    "NativeValueError",
]
