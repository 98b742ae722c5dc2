"""Fixtures of the console's tests: a real store filled by the real pipeline, the
verifier's HTTP server on a free 127.0.0.1 port, and headless Chromium. Shared names
the tests import live in console_helpers.py."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # console_helpers

from console_helpers import Filled, api_context, fill_store

from edgeseal.verifier.console_files import make_console_handler
from edgeseal.verifier.http_api import make_api_handler
from edgeseal.verifier.http_server import HttpServer


@pytest.fixture
def filled(tmp_path: Path) -> Filled:
    return fill_store(tmp_path)


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
