"""Both batch implementations get the same verdicts: the published-vector and
differential suites run again with EDGESEAL_ED25519=portable (the portable C is
what runs on CPUs without AVX-512 IFMA), and implementation() reports the choice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edgeseal.native import ed25519

HERE = Path(__file__).resolve().parent


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_implementation_follows_cpu_and_environment() -> None:
    flags = _cpu_flags()
    expected = "portable"
    if "avx512f" in flags:
        expected = "avx512ifma" if "avx512ifma" in flags else "avx512f"
    if os.environ.get("EDGESEAL_ED25519") == "portable":
        expected = "portable"
    assert ed25519.implementation() == expected


def test_vector_and_differential_suites_with_portable_code() -> None:
    env = dict(os.environ, EDGESEAL_ED25519="portable")
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "from edgeseal.native import ed25519 as e; print(e.implementation())",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == "portable"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            str(HERE / "test_ed25519_differential.py"),
            str(HERE / "test_ed25519_vectors.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE.parents[1],
        check=False,
    )
    assert run.returncode == 0, f"portable run failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
