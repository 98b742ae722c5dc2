# setuptools needs this shim only to hand the cffi build scripts to build_ext;
# all metadata lives in pyproject.toml.
from setuptools import setup

setup(
    cffi_modules=[
        "native/build_ffi.py:hashing_ffi",
        "native/build_ffi.py:ed25519_ffi",
        "firmware_bridge/build_ffi.py:ffibuilder",
    ],
)
