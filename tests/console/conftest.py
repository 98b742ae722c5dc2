"""Fixtures of the console's tests: a real store filled by the real pipeline, and the
verifier's HTTP server on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier"))  # verifier_builders
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "anchor"))  # tsa_forgery

from verifier_builders import GatewayChain, batch_topic

from edgeseal.verifier.api_queries import ApiQueries
from edgeseal.verifier.console_files import make_console_handler
from edgeseal.verifier.gateway_status import StatusBoard
from edgeseal.verifier.http_api import ApiContext, Receipts, make_api_handler
from edgeseal.verifier.http_server import HttpServer
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


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
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


@pytest.fixture
def served(filled: Filled) -> Iterator[tuple[HttpServer, Filled]]:
    context = api_context(filled)
    server = HttpServer([make_api_handler(context), make_console_handler()]).start()
    try:
        yield server, filled
    finally:
        server.close()
        context.receipts.close()


# -- a real browser ------------------------------------------------------------------------

# The distribution's package (Debian: chromium; scripts/test installs it).
CHROMIUM_NAMES = ("chromium", "chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless system Chromium driven by Playwright (never a downloaded browser build).

    Per module, not per session: Playwright's sync API keeps an asyncio loop running in
    the main thread while it is open, and every later test calling asyncio.run() (the
    NATS bus tests) failed with "cannot be called from a running event loop".
    """
    from playwright.sync_api import sync_playwright

    found = next((p for p in map(shutil.which, CHROMIUM_NAMES) if p is not None), None)
    if found is None:
        pytest.fail("no chromium on PATH; scripts/test installs Debian's chromium package")
    with sync_playwright() as p:
        # --no-sandbox: the suite runs as root in CI, where chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=found, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def save_screenshot(page: Any, name: str) -> None:
    """With EDGESEAL_UPDATE_SCREENSHOTS=1, keep the page's picture as docs/<name>."""
    if os.environ.get("EDGESEAL_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), full_page=True)
