"""The receipt checker page in a real browser, opened from a file with the network cut
off: it says VALID for a genuine receipt, and for a tampered one it names the failing
check, the same checks with the same outcomes as `edgeseal check-receipt`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from console_helpers import Filled, save_screenshot

from edgeseal.verifier.console_files import CONSOLE_DIR
from edgeseal.verifier.receipt import ReadingRef, build_receipt, check_receipt
from edgeseal.verifier.store import VerifierStore

PAGE = (CONSOLE_DIR / "receipt.html").as_uri()


def flip(hex_text: str, byte: int) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[byte] ^= 0x01
    return raw.hex()


@pytest.fixture
def receipt(filled: Filled) -> dict[str, Any]:
    # gw-1/7/12 is in batch 3, signed by the key that batch 2 rotated to: the page must
    # follow key_history from the enrolled key.
    with VerifierStore(filled.path) as store:
        made = build_receipt(store, ReadingRef.parse("gw-1/7/12"))
    assert made["key_history"], "the fixture's receipt should carry a key rotation"
    return made


@pytest.fixture(name="page")
def offline_page(browser: Any) -> Any:
    """The page opened from its file, every request but file: ones refused."""
    context = browser.new_context()
    requests: list[str] = []

    def only_files(route: Any) -> None:
        requests.append(route.request.url)
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_files)
    opened = context.new_page()
    opened.goto(PAGE)
    opened.wait_for_selector("body[data-ready='1']")
    yield opened
    context.close()
    assert all(u.startswith("file:") for u in requests), requests


def page_lines(page: Any) -> list[tuple[str, str, str]]:
    """(name, link, state) of every line the page shows; state is ok, fail, skipped (not
    checked here) or note (decides nothing by itself)."""
    rows = page.eval_on_selector_all(
        "#checks li", "items => items.map(li => [li.dataset.check, li.dataset.link, li.className])"
    )
    return [(name, link, state) for name, link, state in rows]


def by_link(lines: list[tuple[str, str, str]]) -> list[tuple[str, bool]]:
    """The page's lines as check_receipt's checks: consecutive checked lines of one link
    (an anchor's steps, the witnesses and their policy) are one check, ok if all are."""
    out: list[tuple[str, bool]] = []
    for _name, link, state in lines:
        if state in ("skipped", "note"):
            continue
        if out and out[-1][0] == link:
            out[-1] = (link, out[-1][1] and state == "ok")
        else:
            out.append((link, state == "ok"))
    return out


def check_in_page(page: Any, tmp_path: Path, receipt: Any, key: bytes | None) -> tuple[str, list]:
    """The page's outcome and its checks grouped as check_receipt's (``by_link``)."""
    path = tmp_path / f"receipt-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(receipt) if not isinstance(receipt, str) else receipt)
    page.fill("#trusted-key", key.hex() if key is not None else "")
    page.evaluate("document.getElementById('outcome').textContent = 'checking'")
    page.set_input_files("#file", str(path))
    page.wait_for_function("document.getElementById('outcome').textContent !== 'checking'")
    return page.inner_text("#outcome"), by_link(page_lines(page))


def test_genuine_receipt_is_valid(page: Any, tmp_path: Path, filled: Filled, receipt) -> None:
    outcome, rows = check_in_page(page, tmp_path, receipt, filled.gw1.enrolled_key)
    assert outcome == "VALID"
    expected = check_receipt(receipt, expected_public_key=filled.gw1.enrolled_key)
    assert rows == [(c.name, c.ok) for c in expected]
    assert ("inclusion proof", True) in rows and ("trusted key", True) in rows
    assert "gw-1/7/12" in page.inner_text("#summary")
    save_screenshot(page, "console-receipt-valid.png")
    # Without the enrolled key the page does not call it valid.
    outcome, _rows = check_in_page(page, tmp_path, receipt, None)
    assert outcome.startswith("CONSISTENT, KEY NOT CHECKED")


def tampered(receipt: dict[str, Any]) -> dict[str, Any]:
    variants: dict[str, Any] = {}

    def variant(name: str) -> dict[str, Any]:
        variants[name] = copy.deepcopy(receipt)
        return variants[name]

    variant("record bit")["record"] = flip(receipt["record"], -1)
    variant("signature bit")["signature"] = flip(receipt["signature"], 0)
    variant("header signature bit")["batch"]["header_signature"] = flip(
        receipt["batch"]["header_signature"], 63
    )
    path = receipt["inclusion_proof"]["path"]
    variant("proof order")["inclusion_proof"]["path"] = [path[1], path[0], *path[2:]]
    variant("proof truncated")["inclusion_proof"]["path"] = path[:-1]
    variant("leaf index")["inclusion_proof"]["leaf_index"] ^= 1
    variant("displayed value")["reading"]["mantissa"] += 1
    variant("rotation dropped")["key_history"] = []
    variant("batch seq copy")["batch"]["seq"] = 99
    del variant("missing signature")["signature"]
    variant("header tag")["batch"]["header"] = "00" + receipt["batch"]["header"][2:]
    return variants


def test_tampered_receipts_name_the_failing_check(
    page: Any, tmp_path: Path, filled: Filled, receipt
) -> None:
    failures = {}
    for name, bad in tampered(receipt).items():
        outcome, rows = check_in_page(page, tmp_path, bad, filled.gw1.enrolled_key)
        expected = check_receipt(bad, expected_public_key=filled.gw1.enrolled_key)
        assert rows == [(c.name, c.ok) for c in expected], name
        first = next(c.name for c in expected if not c.ok)
        assert outcome.startswith(f"INVALID: the {first} check failed"), (name, outcome)
        failures[name] = first
        if name == "record bit":
            save_screenshot(page, "console-receipt-tampered.png")
    assert failures["record bit"] == "reading signature"
    assert failures["header signature bit"] == "header signature"
    assert failures["proof order"] == "inclusion proof"
    assert failures["rotation dropped"] == "trusted key"
    assert failures["missing signature"] == "receipt structure"
    outcome, rows = check_in_page(page, tmp_path, "{not json", filled.gw1.enrolled_key)
    assert outcome.startswith("INVALID: the receipt structure check failed")


def test_a_dropped_file_is_checked(page: Any, filled: Filled, receipt) -> None:
    page.fill("#trusted-key", filled.gw1.enrolled_key.hex())
    page.evaluate(
        """text => {
            const data = new DataTransfer();
            data.items.add(new File([text], "receipt.json", {type: "application/json"}));
            document.getElementById("drop").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }""",
        json.dumps(receipt),
    )
    page.wait_for_function("document.getElementById('outcome').textContent === 'VALID'")


def test_version_2_receipts_log_links(page: Any, tmp_path: Path) -> None:
    """Reading -> batch -> log entry -> signed checkpoint, checked by the page as by
    check_receipt (a log without anchors: both are told that none is needed)."""
    from log_helpers import accept, log_signer, sequencer, store_at
    from verifier_builders import GatewayChain

    from edgeseal.verifier.receipt_log import LogTrust

    signer = log_signer()
    gw = GatewayChain("gw-a")
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [gw, GatewayChain("gw-b")], 9)
        sequencer(store, signer).step()
        good = build_receipt(store, ReadingRef("gw-a", 7, 3))
    assert good["format"] == "edgeseal-receipt/2"
    trust = LogTrust(log_key=signer.verifier_key(), anchors_needed=0)
    page.fill("#log-key", signer.verifier_key())
    page.fill("#anchors-needed", "0")

    def proof_bit(r: dict[str, Any]) -> None:
        r["log"]["inclusion_proof"][0] = flip(r["log"]["inclusion_proof"][0], 0)

    def checkpoint_root(r: dict[str, Any]) -> None:
        lines = r["log"]["checkpoint"].split("\n")
        lines[2] = "A" * 43 + "="
        r["log"]["checkpoint"] = "\n".join(lines)

    cases = {
        "genuine": (lambda r: None, None),
        "proof bit": (proof_bit, "log inclusion"),
        "other index": (lambda r: r["log"].update(index=5), "log inclusion"),
        "checkpoint root": (checkpoint_root, "checkpoint signature"),
        "bigger tree": (lambda r: r["log"].update(tree_size=10), "checkpoint size"),
        "no log": (lambda r: r.pop("log"), "log structure"),
        "other log key": (
            lambda r: r["log"].update(log_key=log_signer().verifier_key()),
            None,  # the trusted key decides, not the receipt's
        ),
    }
    for name, (change, failing) in cases.items():
        receipt = copy.deepcopy(good)
        change(receipt)
        outcome, rows = check_in_page(page, tmp_path, receipt, gw.enrolled_key)
        expected = check_receipt(receipt, expected_public_key=gw.enrolled_key, log_trust=trust)
        assert rows == [(c.name, c.ok) for c in expected], name
        if failing is None:
            assert outcome == "VALID", (name, outcome)
            assert ("log inclusion", True) in rows
        else:
            assert outcome.startswith(f"INVALID: the {failing} check failed"), (name, outcome)
    # No witness key given: the cosignatures are listed as not checked, never as ok.
    assert page.locator("#checks li.skipped[data-check='cosignatures']").count() == 1
    # Trusting the receipt's own log key: another key's receipt fails its checkpoint.
    page.fill("#log-key", "")
    receipt = copy.deepcopy(good)
    receipt["log"]["log_key"] = log_signer().verifier_key()
    outcome, _rows = check_in_page(page, tmp_path, receipt, gw.enrolled_key)
    assert outcome.startswith("INVALID: the checkpoint signature check failed"), outcome
    # As check-receipt without --log-key: consistent, but the log key is not checked.
    outcome, _rows = check_in_page(page, tmp_path, good, gw.enrolled_key)
    assert outcome.startswith("CONSISTENT, LOG KEY NOT CHECKED"), outcome
    assert "log key was taken from the receipt" in page.inner_text("#summary")
    outcome, _rows = check_in_page(page, tmp_path, good, None)
    assert outcome.startswith("CONSISTENT, KEYS NOT CHECKED"), outcome
    # The policy of check-receipt: one anchor needed unless told otherwise; evidence of an
    # unknown kind is refused, as check_receipt refuses it.
    page.fill("#log-key", signer.verifier_key())
    page.fill("#anchors-needed", "")
    anchored = copy.deepcopy(good)
    anchored["anchors"] = [{"kind": "tsa", "version": 1, "token": "00"}]
    outcome, rows = check_in_page(page, tmp_path, anchored, gw.enrolled_key)
    expected = check_receipt(
        anchored, expected_public_key=gw.enrolled_key, log_trust=LogTrust(signer.verifier_key())
    )
    assert rows == [(c.name, c.ok) for c in expected]
    assert rows[-2:] == [("anchor 0", False), ("anchored", False)]
    assert outcome.startswith("INVALID: the anchor 0 check failed"), outcome
