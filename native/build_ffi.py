"""cffi build scripts (API mode, out of line) for the native core.

Two extension modules, one per family of primitives, so that work on one never
breaks the build of the other:

  native._hashing   SHA-256 (one file per ISA variant, run-time dispatch) and
                    RFC 9162 Merkle trees
  native._ed25519   SHA-512 and Ed25519 verification (single and batch)

Each function is declared once, in its public header, between the lines
``/* ES_CDEF_BEGIN */`` and ``/* ES_CDEF_END */``; this script hands exactly that
text to cffi, so the header and the binding can never drift apart.

setuptools calls this through ``cffi_modules`` in setup.py. During development a
single module can be rebuilt in place with::

    python native/build_ffi.py hashing      # or: ed25519, or nothing for both
"""

from __future__ import annotations

import glob
import os
import re
import sys

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sources are named by pattern so that adding a file (a new ISA variant, a new
# layer of the curve arithmetic) needs no edit here.
MODULES: dict[str, dict[str, list[str]]] = {
    "hashing": {
        "headers": ["native/include/es_sha256.h", "native/include/es_merkle.h"],
        "sources": ["native/src/sha256_*.c", "native/src/merkle_*.c"],
    },
    "ed25519": {
        "headers": ["native/include/es_sha512.h", "native/include/es_ed25519.h"],
        "sources": ["native/src/sha512_*.c", "native/src/ed25519_*.c"],
    },
}

# No -march: a wheel must run on every CPU of its architecture. ISA-specific
# code opts in per function with target attributes and is chosen at run time.
CFLAGS = ["-O3", "-std=gnu11", "-Wall", "-Wextra", "-fvisibility=hidden"]
# The developer build (scripts/test sets EDGESEAL_WERROR=1) turns every warning into an
# error, so none is ever committed; a user's build from the sdist stays tolerant of a
# newer compiler's new warnings. This runs at build time only, never in the C core.
if os.environ.get("EDGESEAL_WERROR") == "1":
    CFLAGS += ["-Werror"]

_CDEF = re.compile(r"/\*\s*ES_CDEF_BEGIN\s*\*/(.*?)/\*\s*ES_CDEF_END\s*\*/", re.DOTALL)


def _cdef_of(header: str) -> str:
    path = os.path.join(ROOT, header)
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return "\n".join(m.group(1) for m in _CDEF.finditer(f.read()))


def _sources_of(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found.extend(sorted(glob.glob(os.path.join(ROOT, pattern))))
    # setuptools wants paths relative to the project root (where setup.py runs).
    return [os.path.relpath(p, ROOT) for p in found]


def _make(name: str) -> FFI:
    spec = MODULES[name]
    ffi = FFI()
    ffi.cdef("\n".join(_cdef_of(h) for h in spec["headers"]))
    includes = "\n".join(
        f'#include "{os.path.basename(h)}"'
        for h in spec["headers"]
        if os.path.exists(os.path.join(ROOT, h))
    )
    ffi.set_source(
        f"edgeseal.native._{name}",
        includes,
        sources=_sources_of(spec["sources"]),
        include_dirs=["native/include"],
        extra_compile_args=CFLAGS,
    )
    return ffi


hashing_ffi = _make("hashing")
ed25519_ffi = _make("ed25519")


if __name__ == "__main__":
    os.chdir(ROOT)
    wanted = sys.argv[1:] or list(MODULES)
    for module in wanted:
        if module not in MODULES:
            sys.exit(f"unknown module {module!r}; choose from {', '.join(MODULES)}")
        built = {"hashing": hashing_ffi, "ed25519": ed25519_ffi}[module].compile(tmpdir=ROOT)
        print(f"built {os.path.relpath(built, ROOT)}")
