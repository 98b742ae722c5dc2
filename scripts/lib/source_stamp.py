"""Print a digest of the sources an install of this checkout was made from.

scripts/demo and scripts/test keep it in their venv and reinstall only when it
changes. ``wheel`` (a regular install) covers every file of every package; ``editable``
only the build inputs, since the venv reads the Python files from the checkout anyway
and only the compiled C core goes stale. The interpreter's version is part of it: a
venv made anew by another Python needs a new build.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_FILES = ("pyproject.toml", "setup.py", "MANIFEST.in")
SKIPPED_SUFFIXES = (".pyc", ".so", ".o")
USAGE = "usage: python scripts/lib/source_stamp.py wheel|editable"


def _packages() -> list[Path]:
    return sorted(d for d in ROOT.iterdir() if (d / "__init__.py").is_file())


def _is_generated(path: Path, package: Path) -> bool:
    # cffi writes its C output (native/_hashing.c ...) beside the build scripts.
    return path.parent == package and path.name.startswith("_") and path.suffix == ".c"


def _is_build_input(path: Path) -> bool:
    return path.name == "build_ffi.py" or path.suffix in (".c", ".h")


def sources(mode: str) -> Iterator[Path]:
    for name in BUILD_FILES:
        if (ROOT / name).is_file():
            yield ROOT / name
    for package in _packages():
        for path in sorted(package.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.suffix in SKIPPED_SUFFIXES or _is_generated(path, package):
                continue
            if mode == "wheel" or _is_build_input(path):
                yield path


def stamp(mode: str) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in sources(mode):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("wheel", "editable"):
        print(USAGE, file=sys.stderr)
        return 2
    print(stamp(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
