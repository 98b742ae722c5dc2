"""What the console's tests share besides fixtures (conftest.py holds those): the token,
the filled store's description, the API context and screenshots.

A module of its own, not conftest.py: test modules import these names, and a bare
``from conftest import ...`` took whichever directory's conftest pytest had imported
last (``pytest tests/console tests/completeness`` failed to collect)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier"))  # verifier_builders
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anchor"))  # tsa_forgery

from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.api_queries import ApiQueries
from edgeseal.verifier.gateway_status import StatusBoard
from edgeseal.verifier.http_api import ApiContext, Receipts
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.wire.batch import SealedBatch

TOKEN = "console-test-token-0123456789"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass
class Filled:
    path: Path
    gw1: GatewayChain  # 3 batches of 5 readings, key rotated in batch 2
    gw2: GatewayChain  # batch 1 accepted, batch 3 held (a gap at 2), one batch quarantined
    enrolled: dict[str, bytes]


def flipped(sealed: SealedBatch, byte: int) -> bytes:
    payload = bytearray(sealed.to_payload())
    payload[byte] ^= 0x01
    return bytes(payload)


def fill_store(tmp_path: Path) -> Filled:
    """A store filled by the real pipeline: accepted, rotated, held and quarantined batches."""
    path = tmp_path / "verifier.sqlite"
    gw1 = GatewayChain("gw-1")
    gw2 = GatewayChain("gw-2", device_id=9)
    enrolled = {"gw-1": gw1.enrolled_key, "gw-2": gw2.enrolled_key}
    with VerifierStore(path, synchronous="normal") as store:
        proc = BatchProcessor(store, TrustStore(enrolled), worker="w")
        proc.handle(batch_topic("gw-1"), gw1.next_batch(5).to_payload())
        proc.handle(
            batch_topic("gw-1"),
            gw1.next_batch(5, rotate_to=Ed25519PrivateKey.generate()).to_payload(),
        )
        proc.handle(batch_topic("gw-1"), gw1.next_batch(5).to_payload())
        proc.handle(batch_topic("gw-2"), gw2.next_batch(3).to_payload())
        gw2.next_batch(3)  # seq 2: never delivered
        held = gw2.next_batch(3)
        proc.handle(batch_topic("gw-2"), held.to_payload())
        # A copy of gw-2's batch 1 with a flipped bit in its last reading's signature.
        tampered = gw2.batches(1, n=2)[0]
        proc.handle(batch_topic("gw-2"), flipped(tampered, len(tampered.to_payload()) - 1))
    return Filled(path, gw1, gw2, enrolled)


def api_context(filled: Filled, tokens: tuple[str, ...] = (TOKEN,)) -> ApiContext:
    board = StatusBoard()
    board.subscribed = True
    board.record("gw-1", b'{"state": "online", "gateway": "gw-1"}')
    return ApiContext(
        queries=ApiQueries(filled.path),
        enrolled=filled.enrolled,
        tokens=tokens,
        receipts=Receipts(filled.path),
        status=board,
    )


def save_screenshot(page: Any, name: str) -> None:
    """With EDGESEAL_UPDATE_SCREENSHOTS=1, keep the page's picture as docs/<name>."""
    if os.environ.get("EDGESEAL_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), full_page=True)
