"""The dashboard in a real browser against the real API on a filled store: chains with
their state, quarantine reasons, completeness per device; the token stays out of URLs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console_helpers import TOKEN

from edgeseal.verifier.receipt import check_receipt


def open_dashboard(browser: Any, url: str, token: str | None) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/" + (f"#token={token}" if token else ""))
    return context, page, errors


def test_dashboard_shows_chains_quarantine_and_devices(browser: Any, served) -> None:
    server, filled = served
    context, page, errors = open_dashboard(browser, server.url, TOKEN)
    try:
        page.wait_for_selector("body[data-refreshes]")
        assert "token" not in page.url  # taken from the fragment, then dropped from the URL
        gw1 = page.locator("#gateways tr[data-gateway='gw-1']")
        gw2 = page.locator("#gateways tr[data-gateway='gw-2']")
        assert gw1.locator(".state").inner_text() == "live"
        assert gw1.locator(".status").inner_text() == "online"
        assert "(rotated)" in gw1.inner_text()
        assert gw2.locator(".state").inner_text() == "gap"
        assert "waiting for seq 2" in gw2.inner_text()
        assert page.inner_text("#quarantine-total") == "1"
        assert page.locator("#quarantine-reasons li[data-reason]").count() == 1
        assert page.inner_text("#readings-total") == "18"
        assert page.locator("#chart polyline[data-gateway='gw-1']").count() == 1
        row = page.locator("#devices tr[data-device='gw-1/7/1']")
        assert row.locator(".accepted").inner_text() == "15"
        assert row.locator(".status").inner_text() == "complete"
        assert row.locator(".gaps").inner_text() == "0"
        # The receipt form downloads a receipt that checks.
        page.fill("#receipt-gateway", "gw-1")
        page.fill("#receipt-device", "7")
        page.fill("#receipt-seq", "12")
        with page.expect_download() as download:
            page.click("#receipt-form button")
        receipt = json.loads(Path(download.value.path()).read_text())
        checks = check_receipt(receipt, expected_public_key=filled.gw1.enrolled_key)
        assert all(c.ok for c in checks)
        page.fill("#receipt-seq", "99")
        page.click("#receipt-form button")
        page.wait_for_selector("#receipt-error:has-text('no accepted reading gw-1/7/99')")
        assert errors == []
    finally:
        context.close()


def test_dashboard_without_a_token_asks_for_one(browser: Any, served) -> None:
    server, _filled = served
    context, page, errors = open_dashboard(browser, server.url, None)
    try:
        page.wait_for_selector("#token-form:not([hidden])")
        page.fill("#token", "wrong-token-0123456789")
        page.click("#token-form button")
        page.wait_for_selector("#token-error:has-text('not one of')")
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        page.wait_for_selector("body[data-refreshes]")
        assert page.locator("#gateways tr[data-gateway]").count() == 2
        assert errors == []
    finally:
        context.close()
