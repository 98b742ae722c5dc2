"""Fixtures shared by the whole suite: real services, started per test and always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeseal.testing.broker import MosquittoBroker, find_mosquitto

# Third-party test vectors, kept in the repository with their licences (see the README there).
THIRD_PARTY_VECTORS = Path(__file__).resolve().parent / "vectors"


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A real mosquitto on a free 127.0.0.1 port; ``stop()``/``start()`` restart it in place."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; scripts/test installs it with apt-get")
    broker = MosquittoBroker(workdir=tmp_path / "broker")
    broker.workdir.mkdir()  # type: ignore[union-attr]
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def third_party_vectors() -> Path:
    """tests/vectors/: the Ed25519 vectors of Wycheproof and ed25519-speccheck."""
    if not THIRD_PARTY_VECTORS.is_dir():
        pytest.fail(
            f"test vectors not found at {THIRD_PARTY_VECTORS}; they belong to the repository"
        )
    return THIRD_PARTY_VECTORS
