# Type stub for the cffi-built extension edgeseal.firmware_bridge._fbcore (built by
# firmware_bridge/build_ffi.py). cffi objects are untyped; the typed API is
# edgeseal.firmware_bridge.core.
from typing import Any

ffi: Any
lib: Any
