"""The native C core and its C tests, cross-built for aarch64 and armv7, pass under qemu-user
(and, built against musl libc, natively).

This runs scripts/cross-test (which see) and checks not only that it passed but
that it covered what it exists for: the ARMv8 SHA-256 instructions were chosen on
the emulated aarch64 CPU, the portable fallback ran too, and armv7 compiled the
32-bit field arithmetic. scripts/test installs the cross compilers and qemu-user;
a missing tool is a failure here, never a skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cross-test"
TOOLS = {
    "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu",
    "arm-linux-gnueabihf-gcc": "gcc-arm-linux-gnueabihf",
    "musl-gcc": "musl-tools",
    "qemu-aarch64": "qemu-user",
    "qemu-arm": "qemu-user",
}


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None or shutil.which(f"{tool}-static") is not None


@pytest.fixture(scope="module")
def cross_run() -> str:
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not _have(tool)})
    if missing:
        pytest.fail(
            f"cross-test tools missing; scripts/test installs them: apt-get install {' '.join(missing)}"
        )
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"scripts/cross-test failed:\n{output[-8000:]}"
    return output


def _line(output: str, pattern: str) -> str:
    found = [line for line in output.splitlines() if re.search(pattern, line)]
    assert found, f"no line matching {pattern!r} in:\n{output}"
    return found[0]


def test_aarch64_runs_the_arm_crypto_extension_path(cross_run: str) -> None:
    line = _line(cross_run, r"^PASS aarch64 +cross_probe \[default dispatch\]")
    assert "sha256_active=arm_ce" in line and "field=fe51" in line, line
    assert "arm_ce" in line.split("sha256_available=")[1], line


def test_aarch64_portable_fallback_also_passes(cross_run: str) -> None:
    line = _line(cross_run, r"^PASS aarch64 +cross_probe \[EDGESEAL_SHA256=portable\]")
    assert "sha256_active=portable" in line, line


def test_musl_build_runs_natively(cross_run: str) -> None:
    """musl libc (Alpine, musllinux wheels): the same core and tests, built with musl-gcc."""
    line = _line(cross_run, r"^PASS musl +cross_probe \[default dispatch\]")
    assert "field=fe51" in line, line
    _line(
        cross_run, r"^PASS musl +cross_probe \[EDGESEAL_SHA256=portable\].*sha256_active=portable"
    )


def test_armv7_uses_the_32_bit_field(cross_run: str) -> None:
    line = _line(cross_run, r"^PASS armv7 +cross_probe")
    assert "field=fe25" in line and "pointer_bits=32" in line, line


@pytest.mark.parametrize("target", ["aarch64", "armv7", "musl"])
@pytest.mark.parametrize("test", ["test_hashing", "test_ed25519", "test_fb_core"])
def test_c_tests_pass_on_target(cross_run: str, target: str, test: str) -> None:
    _line(cross_run, rf"^PASS {target} +build {test}\b")
    _line(cross_run, rf"^PASS {target} +{test} \[")
    assert not re.search(rf"^FAIL {target} +{test}", cross_run, re.MULTILINE), cross_run


def test_cross_test_reports_a_path_it_did_not_cover() -> None:
    """The script can fail: forcing the 10-limb field on aarch64 breaks its expectation."""
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--target",
            "aarch64",
            "--probe-only",
            "--extra-cflags=-DES_FE25",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = _line(proc.stdout, r"^FAIL aarch64 +cross_probe \[default dispatch\]")
    assert "field=fe25" in line and "expected field=fe51" in line, line
