"""Fixtures shared by the whole suite: real services, started per test and always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeseal.broker import MosquittoBroker, find_mosquitto

SHARED_VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors"


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
def shared_vectors() -> Path:
    """The third-party test vectors that CI places beside the checkout (../shared/vectors)."""
    if not SHARED_VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {SHARED_VECTORS}; CI puts shared/ beside the checkout")
    return SHARED_VECTORS
