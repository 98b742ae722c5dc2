"""Fixtures of the scaling tests: separate hosts as network namespaces (edgeseal.testing.netns)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
# The verifier's and the agent's test helpers (worker processes, batches, agent configs).
sys.path.insert(0, str(TESTS / "verifier"))
sys.path.insert(0, str(TESTS / "agent"))

from edgeseal.testing.netns import Network, unavailable_reason


@pytest.fixture
def network() -> Iterator[Network]:
    """A private switch to cable hosts to; every namespace is deleted afterwards."""
    reason = unavailable_reason()
    if reason is not None:
        # Not a skip: CI runs as root, and a test that quietly skips there proves nothing.
        pytest.fail(f"this test builds hosts as network namespaces, which it cannot here: {reason}")
    with Network() as net:
        yield net
