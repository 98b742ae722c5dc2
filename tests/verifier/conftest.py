"""Fixtures of the verifier's tests: a real SQLite store in the test's directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # verifier_builders

from edgeseal.verifier.store import VerifierStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VerifierStore]:
    s = VerifierStore(tmp_path / "verifier.sqlite", synchronous="normal")
    try:
        yield s
    finally:
        s.close()
