# Type stub for the cffi-built extension edgeseal.native._hashing (built by native/build_ffi.py).
# cffi objects are untyped; the typed API is native.hashing / native.merkle.
from typing import Any

ffi: Any
lib: Any
