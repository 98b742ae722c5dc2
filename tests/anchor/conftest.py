"""Fixtures of the anchor tests: real signed checkpoints, a real TSA, real chains."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.anchor.evm import EmbeddedChain
from edgeseal.testing.evm_node import GanacheNode
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.note import NoteSigner, sign_note

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


@pytest.fixture(scope="module")
def log_signer() -> NoteSigner:
    return NoteSigner("example.org/edgeseal/log", Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def make_checkpoint(log_signer: NoteSigner) -> MakeCheckpoint:
    """(checkpoint, signed note) for an origin and size; the root is derived from both
    unless given, so two calls with the same arguments give the same checkpoint."""

    def make(
        size: int, *, origin: str = "example.org/edgeseal/log", root: bytes | None = None
    ) -> tuple[Checkpoint, bytes]:
        if root is None:
            root = hashlib.sha256(f"{origin} {size}".encode()).digest()
        checkpoint = Checkpoint(origin, size, root)
        return checkpoint, sign_note(checkpoint.body(), [log_signer])

    return make


@pytest.fixture(scope="module")
def tsa() -> Iterator[LocalTsa]:
    with LocalTsa() as running:
        yield running


@pytest.fixture(scope="module")
def embedded_chain() -> EmbeddedChain:
    return EmbeddedChain()


@pytest.fixture(scope="module")
def ganache() -> Iterator[GanacheNode]:
    """One real ganache node per test module (it starts in about a second)."""
    with GanacheNode() as node:
        yield node
