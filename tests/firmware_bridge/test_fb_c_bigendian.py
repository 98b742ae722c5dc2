"""The C reference's host tests on a big-endian CPU (s390x under qemu-user).

The wire format is little-endian and the C packs it byte by byte; this proves it on
a big-endian target, as the issue asks ("big-/little-endian safe"). The test
program's known answers (layout offsets, CRCs, SHA-256, HMAC, the signing vector)
would fail if any field were copied in host byte order.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

C_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "c"
STRICT = ["-Wall", "-Wextra", "-Werror", "-std=c99", "-pedantic", "-O2", "-static"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found; scripts/test installs gcc-s390x-linux-gnu, "
            "libc6-dev-s390x-cross and qemu-user"
        )
    return path


def _build_run(tmp_path: Path, sources: list[str], name: str) -> subprocess.CompletedProcess[str]:
    exe = tmp_path / name
    build = subprocess.run(
        [_tool("s390x-linux-gnu-gcc"), *STRICT, f"-I{C_DIR}", *sources, "-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    return subprocess.run(
        [_tool("qemu-s390x"), str(exe)], capture_output=True, text=True, timeout=120, check=False
    )


def test_c_core_passes_on_a_big_endian_cpu(tmp_path: Path) -> None:
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { unsigned x = 1; return *(unsigned char *)&x; }\n")
    # Exit status 0: the first byte of 1 is 0, so the target really is big-endian.
    assert _build_run(tmp_path, [str(probe)], "probe").returncode == 0
    sources = sorted(str(p) for p in C_DIR.glob("fb_*.c")) + [
        str(C_DIR / "tests" / "test_fb_core.c")
    ]
    run = _build_run(tmp_path, sources, "test_fb_core")
    assert run.returncode == 0, run.stderr
    assert "all checks passed" in run.stdout
