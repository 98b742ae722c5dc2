"""The C reference's own host test program, built strictly and run plain and under sanitizers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

C_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "c"
STRICT = ["-Wall", "-Wextra", "-Werror", "-std=c99", "-pedantic"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]


def _compiler() -> str:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler found; scripts/test installs gcc")
    return cc


def _build_and_run(tmp_path: Path, flags: list[str]) -> subprocess.CompletedProcess[str]:
    exe = tmp_path / "test_fb_core"
    sources = sorted(str(p) for p in C_DIR.glob("fb_*.c")) + [
        str(C_DIR / "tests" / "test_fb_core.c")
    ]
    build = subprocess.run(
        [_compiler(), *STRICT, *flags, f"-I{C_DIR}", *sources, "-o", str(exe)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, f"build failed:\n{build.stderr}"
    assert build.stderr == "", f"compiler warnings:\n{build.stderr}"
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_c_core_builds_strict_and_passes(tmp_path: Path, opt: str) -> None:
    run = _build_and_run(tmp_path, [opt])
    assert run.returncode == 0, run.stderr
    assert "all checks passed" in run.stdout


def test_c_core_passes_under_asan_and_ubsan(tmp_path: Path) -> None:
    run = _build_and_run(tmp_path, SANITIZE)
    assert run.returncode == 0, run.stderr
    assert "all checks passed" in run.stdout


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_core_needs_nothing_from_libc(tmp_path: Path, opt: str) -> None:
    """No malloc, no stdio: the objects need only fb_ symbols and the four functions GCC
    may emit calls to even in freestanding code (GCC manual, "Standards": memcpy,
    memmove, memset, memcmp), which every microcontroller toolchain provides."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.fail("nm (binutils) not found; it comes with gcc")
    for src in sorted(C_DIR.glob("fb_*.c")):
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(
            [_compiler(), *STRICT, opt, f"-I{C_DIR}", "-c", str(src), "-o", str(obj)],
            check=True,
            timeout=120,
        )
        undefined = subprocess.run(
            [nm, "-u", str(obj)], capture_output=True, text=True, check=True
        ).stdout.split()
        freestanding = {"memcpy", "memmove", "memset", "memcmp"}
        foreign = [
            s for s in undefined if s != "U" and not s.startswith("fb_") and s not in freestanding
        ]
        assert foreign == [], f"{src.name} needs {foreign}"


def test_c_core_host_test_can_fail(tmp_path: Path) -> None:
    """A broken ring (ACK releases one reading too few) must make the C tests fail."""
    broken = tmp_path / "src"
    broken.mkdir()
    for src in C_DIR.glob("fb_*.[ch]"):
        text = src.read_text()
        if src.name == "fb_ring.c":
            text = text.replace("r->oldest_seq = seq + 1u;", "r->oldest_seq = seq;")
        (broken / src.name).write_text(text)
    exe = tmp_path / "t"
    sources = sorted(str(p) for p in broken.glob("fb_*.c")) + [
        str(C_DIR / "tests" / "test_fb_core.c")
    ]
    subprocess.run(
        [_compiler(), "-std=c99", f"-I{broken}", *sources, "-o", str(exe)], check=True, timeout=120
    )
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1
    assert "check failed" in run.stderr
