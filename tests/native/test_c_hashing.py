"""Build tests/native/c/test_hashing.c with native/src under ASan + UBSan and run it.

Any sanitizer report (out-of-bounds read, misaligned load, overflow, leak) makes the
program exit nonzero, which fails the test. The same sources are also compiled with
the extension's own optimisation flags and -Werror, so a warning fails the suite too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(str(p) for p in (ROOT / "native" / "src").glob("sha256_*.c")) + sorted(
    str(p) for p in (ROOT / "native" / "src").glob("merkle_*.c")
)
TEST_PROGRAM = str(ROOT / "tests" / "native" / "c" / "test_hashing.c")
WARNINGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler found; scripts/test installs gcc with apt-get")
    return cc


def _build(out: Path, flags: list[str]) -> Path:
    cmd = [
        _compiler(),
        *WARNINGS,
        *flags,
        f"-I{ROOT / 'native' / 'include'}",
        TEST_PROGRAM,
        *SOURCES,
        "-o",
        str(out),
        "-lpthread",
    ]
    built = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"compile failed: {' '.join(cmd)}\n{built.stderr}"
    # -Werror turns warnings into errors; this also catches a stray "warning:" that a
    # pragma or a system header might let through. (Notes, such as GCC giving up on
    # variable tracking for the large unrolled kernels under -g, are fine.)
    assert "warning:" not in built.stderr, f"compiler warned:\n{built.stderr}"
    return out


@pytest.fixture(scope="module")
def sanitized_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("c_hashing") / "test_hashing", ["-O1", "-g", *SANITIZE])


def _run(binary: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("EDGESEAL_SHA256", None)
    env.update(extra_env)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return subprocess.run(
        [str(binary)], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("forced", ["", "portable"], ids=["dispatcher-choice", "forced-portable"])
def test_c_hashing_under_sanitizers(sanitized_binary: Path, forced: str) -> None:
    result = _run(sanitized_binary, {"EDGESEAL_SHA256": forced} if forced else {})
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "runtime error" not in report and "AddressSanitizer" not in report, report
    assert "all checks passed" in result.stdout
    if forced:
        assert "active variant: portable" in result.stdout


def test_sources_compile_without_warnings_at_release_flags(tmp_path: Path) -> None:
    binary = _build(tmp_path / "test_hashing_o3", ["-O3", "-fvisibility=hidden"])
    result = _run(binary, {})
    assert result.returncode == 0, result.stdout + result.stderr
