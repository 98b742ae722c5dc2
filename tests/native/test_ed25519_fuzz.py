"""A short run of the atheris fuzz target (longer runs by hand, see fuzz_ed25519.py),
and the plain-Python policy oracle it relies on, checked on the speccheck cases."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ed25519_reference
from ed25519_cases import rfc8032_cases, speccheck_cases

HERE = Path(__file__).resolve().parent


def test_reference_oracle_states_the_policy() -> None:
    expected = [False, False, True, True, True, True, False, False, False, False, False, False]
    assert [
        ed25519_reference.verify(c.public_key, c.message, c.signature) for c in speccheck_cases()
    ] == expected
    assert all(
        ed25519_reference.verify(c.public_key, c.message, c.signature) for c in rfc8032_cases()[:3]
    )


def test_fuzz_target_short_run(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    run = subprocess.run(
        [sys.executable, str(HERE / "fuzz_ed25519.py"), "-runs=3000", "-seed=1", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=HERE,
    )
    assert run.returncode == 0, f"fuzzer found a problem or failed to start:\n{run.stderr[-4000:]}"
    assert "Done 3000 runs" in run.stderr, run.stderr[-2000:]
