# Type stub for the cffi-built extension edgeseal.native._ed25519 (built by native/build_ffi.py).
# cffi objects are untyped; the typed API is native.ed25519 / native.sha512.
from typing import Any

ffi: Any
lib: Any
