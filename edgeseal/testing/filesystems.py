"""A real, small file system for disk-full tests: a tmpfs mounted in a test's directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (e.g. "1536k") mounted on ``path``, unmounted however it ends."""
    if os.geteuid() != 0:
        raise PermissionError(
            f"mounting a {size} tmpfs needs root: run the suite as root (as CI does)"
        )
    path.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "edgeseal-test", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True, capture_output=True)


def resize(path: Path, size: str) -> None:
    """Give the tmpfs at ``path`` a new size (room comes back, or goes)."""
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(path)], check=True, capture_output=True
    )
