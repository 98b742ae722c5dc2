"""cffi build script for the firmware_bridge C reference (the microcontroller side).

The same C99 sources that a device would compile are wrapped here so that the
device simulator runs them and the Python gateway side is tested against them.
Declarations come from the public header between ``/* FB_CDEF_BEGIN */`` and
``/* FB_CDEF_END */``.

Rebuild in place during development with ``python firmware_bridge/build_ffi.py``.
"""

from __future__ import annotations

import glob
import os
import re

from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADERS = ["firmware_bridge/c/fb_link.h"]
SOURCES = ["firmware_bridge/c/fb_*.c"]
CFLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-fvisibility=hidden"]
# The developer build (scripts/test sets EDGESEAL_WERROR=1): warnings are errors.
if os.environ.get("EDGESEAL_WERROR") == "1":
    CFLAGS += ["-Werror"]

_CDEF = re.compile(r"/\*\s*FB_CDEF_BEGIN\s*\*/(.*?)/\*\s*FB_CDEF_END\s*\*/", re.DOTALL)


def _cdef() -> str:
    parts: list[str] = []
    for header in HEADERS:
        path = os.path.join(ROOT, header)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                parts.extend(m.group(1) for m in _CDEF.finditer(f.read()))
    return "\n".join(parts)


def _sources() -> list[str]:
    found: list[str] = []
    for pattern in SOURCES:
        found.extend(sorted(glob.glob(os.path.join(ROOT, pattern))))
    return [os.path.relpath(p, ROOT) for p in found]


ffibuilder = FFI()
ffibuilder.cdef(_cdef())
ffibuilder.set_source(
    "edgeseal.firmware_bridge._fbcore",
    "\n".join(
        f'#include "{os.path.basename(h)}"'
        for h in HEADERS
        if os.path.exists(os.path.join(ROOT, h))
    ),
    sources=_sources(),
    include_dirs=["firmware_bridge/c"],
    extra_compile_args=CFLAGS,
)

if __name__ == "__main__":
    os.chdir(ROOT)
    print(os.path.relpath(ffibuilder.compile(tmpdir=ROOT), ROOT))
