"""Receipts: built from a real store, checked by the CLI and by the script in docs/receipts.md."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic, reading, seal

from edgeseal.cli import main as edgeseal_main
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.receipt import ReadingRef, ReceiptError, build_receipt, check_receipt
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def doc_script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    # the first checks the reading and the batch; the second, version 2's log part
    # (tests/verifier/test_log_receipts.py)
    assert len(blocks) == 2, "docs/receipts.md must hold exactly two python blocks"
    return blocks[0]


@pytest.fixture
def filled(store: VerifierStore) -> tuple[VerifierStore, GatewayChain]:
    gw = GatewayChain()
    proc = BatchProcessor(store, TrustStore({"gw-1": gw.enrolled_key}), worker="w")
    for b in gw.batches(2, n=7):  # 7 leaves: an unbalanced tree, paths of different lengths
        proc.handle(batch_topic("gw-1"), b.to_payload())
    return store, gw


def tampered_variants(receipt: dict) -> dict[str, dict]:
    """Named after the change they make (transparency-dev style)."""
    out: dict[str, dict] = {}

    def variant(name: str):
        r = copy.deepcopy(receipt)
        out[name] = r
        return r

    def flip(hex_text: str, byte: int) -> str:
        raw = bytearray(bytes.fromhex(hex_text))
        raw[byte] ^= 0x01
        return raw.hex()

    variant("record-bit-@-1")["record"] = flip(receipt["record"], -1)
    variant("signature-bit-@0")["signature"] = flip(receipt["signature"], 0)
    variant("header-bit-@30")["batch"]["header"] = flip(receipt["batch"]["header"], 30)
    variant("header-signature-bit-@63")["batch"]["header_signature"] = flip(
        receipt["batch"]["header_signature"], 63
    )
    path = receipt["inclusion_proof"]["path"]
    variant("proof-order-swapped")["inclusion_proof"]["path"] = [path[1], path[0], *path[2:]]
    variant("proof[0]-bit-@3")["inclusion_proof"]["path"][0] = flip(path[0], 3)
    variant("proof-truncated")["inclusion_proof"]["path"] = path[:-1]
    variant("wrong-leaf-index")["inclusion_proof"]["leaf_index"] = (
        receipt["inclusion_proof"]["leaf_index"] ^ 1
    )
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    variant("other-public-key")["public_key"] = other
    return out


def test_receipt_fields_and_all_checks_pass(filled) -> None:
    store, gw = filled
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/12"))  # batch 2, leaf 5
    assert receipt["format"] == "edgeseal-receipt/1"
    assert (
        receipt["inclusion_proof"]["leaf_index"] == 5
        and receipt["inclusion_proof"]["tree_size"] == 7
    )
    assert receipt["batch"]["seq"] == 2 and receipt["public_key"] == gw.public_key.hex()
    assert receipt["reading"]["device_seq"] == 12
    checks = check_receipt(receipt, expected_public_key=gw.public_key)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert {"header signature", "reading signature", "inclusion proof", "trusted key"} <= {
        c.name for c in checks
    }


def test_every_tampering_fails_a_named_check(filled) -> None:
    store, _gw = filled
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/12"))
    expected_failure = {
        "record-bit-@-1": "reading signature",
        "signature-bit-@0": "reading signature",
        "header-bit-@30": "header signature",
        "header-signature-bit-@63": "header signature",
        "proof-order-swapped": "inclusion proof",
        "proof[0]-bit-@3": "inclusion proof",
        "proof-truncated": "inclusion proof",
        "wrong-leaf-index": "inclusion proof",
        "other-public-key": "key id",
    }
    for name, bad in tampered_variants(receipt).items():
        failed = [c.name for c in check_receipt(bad) if not c.ok]
        assert expected_failure[name] in failed, (name, failed)


def test_a_readable_field_that_disagrees_with_the_record_fails(filled) -> None:
    store, _gw = filled
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/3"))
    receipt["reading"]["mantissa"] += 1
    failed = [c for c in check_receipt(receipt) if not c.ok]
    assert [c.name for c in failed] == ["reading fields"] and "record says" in failed[0].detail


def test_untrusted_key_and_malformed_receipts(filled) -> None:
    store, _gw = filled
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/0"))
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert [c.name for c in check_receipt(receipt, expected_public_key=other) if not c.ok] == [
        "trusted key"
    ]
    del receipt["signature"]
    (only,) = check_receipt(receipt)
    assert not only.ok and "'signature' is missing" in only.detail
    assert not check_receipt([1, 2])[0].ok


def test_missing_and_ambiguous_readings_are_clear_errors(store: VerifierStore) -> None:
    gw = GatewayChain()
    proc = BatchProcessor(store, TrustStore({"gw-1": gw.enrolled_key}), worker="w")
    # The device rebooted and reused seq 1: two readings gw-1/7/1 with boots 1 and 2.
    b1 = seal(
        gw.key, "gw-1", 1, bytes(32), [reading("gw-1", 1, boot_id=1), reading("gw-1", 1, boot_id=2)]
    )
    proc.handle(batch_topic("gw-1"), b1.to_payload())
    with pytest.raises(
        ReceiptError, match=r"several device boots \(1, 2\); choose one with --boot"
    ):
        build_receipt(store, ReadingRef.parse("gw-1/7/1"))
    assert build_receipt(store, ReadingRef.parse("gw-1/7/1", boot_id=2))["reading"]["boot_id"] == 2
    with pytest.raises(ReceiptError, match="no accepted reading gw-1/7/99"):
        build_receipt(store, ReadingRef.parse("gw-1/7/99"))
    with pytest.raises(ValueError, match="expected <gateway>/<device>/<seq>"):
        ReadingRef.parse("gw-1/7")


def test_cli_writes_and_checks_a_receipt(filled, tmp_path: Path, capsys) -> None:
    store, gw = filled
    out = tmp_path / "r.json"
    assert (
        edgeseal_main(
            ["receipt", "--reading", "gw-1/7/9", "--store", str(store.path), "-o", str(out)]
        )
        == 0
    )
    assert edgeseal_main(["check-receipt", str(out), "--expect-key", gw.public_key.hex()]) == 0
    assert "VALID receipt: reading gw-1/7/9 (boot 1) is in batch seq 2" in capsys.readouterr().out

    bad = json.loads(out.read_text())
    bad["inclusion_proof"]["path"].reverse()
    out.write_text(json.dumps(bad))
    assert edgeseal_main(["check-receipt", str(out)]) == 1
    text = capsys.readouterr().out
    assert "FAIL inclusion proof" in text and "do not lead to the header root" in text
    assert edgeseal_main(["receipt", "--reading", "gw-1/7/999", "--store", str(store.path)]) == 1
    assert "no accepted reading" in capsys.readouterr().err


def test_the_documented_script_accepts_a_receipt_and_rejects_tampered_ones(
    filled, tmp_path: Path
) -> None:
    store, gw = filled
    script = tmp_path / "check.py"
    script.write_text(doc_script(), encoding="utf-8")

    def run(receipt: dict) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "receipt.json"
        path.write_text(json.dumps(receipt), encoding="utf-8")
        return subprocess.run(
            [sys.executable, str(script), str(path), gw.public_key.hex()],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for seq in (0, 6, 13):  # first leaf, last leaf of batch 1 (7 leaves), last leaf of batch 2
        receipt = build_receipt(store, ReadingRef.parse(f"gw-1/7/{seq}"))
        ok = run(receipt)
        assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stderr
    # Without the enrolled key the script checks nothing worth having: it refuses to run.
    bare = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "receipt.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bare.returncode != 0 and "usage: check.py RECEIPT.json ENROLLED_KEY_HEX" in bare.stderr
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/12"))
    for name, bad in tampered_variants(receipt).items():
        result = run(bad)
        assert result.returncode != 0 and "INVALID" in result.stderr, (
            name,
            result.stdout,
            result.stderr,
        )


@pytest.fixture
def rotated(store: VerifierStore) -> tuple[VerifierStore, GatewayChain, bytes, bytes]:
    """gw-1 rotates twice: batch 2 announces key B, batch 4 announces key C."""
    gw = GatewayChain()
    enrolled = gw.public_key
    proc = BatchProcessor(store, TrustStore({"gw-1": enrolled}), worker="w")
    key_b, key_c = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    batches = [
        gw.next_batch(3),
        gw.next_batch(3, rotate_to=key_b),
        gw.next_batch(3),
        gw.next_batch(3, rotate_to=key_c),
        gw.next_batch(3),
    ]
    for b in batches:
        (v,) = proc.handle(batch_topic("gw-1"), b.to_payload())
        assert v.outcome.value == "accepted"
    return store, gw, enrolled, gw.public_key


def test_after_rotations_the_enrolled_key_leads_to_the_receipt_key(rotated) -> None:
    store, _gw, enrolled, current = rotated
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/13"))  # batch 5, signed by key C
    assert receipt["public_key"] == current.hex() and len(receipt["key_history"]) == 2
    checks = {c.name: c for c in check_receipt(receipt, expected_public_key=enrolled)}
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert "in 2 signed rotation(s)" in checks["trusted key"].detail
    early = build_receipt(store, ReadingRef.parse("gw-1/7/1"))  # batch 1: the enrolled key itself
    assert early["key_history"] == [] and all(
        c.ok for c in check_receipt(early, expected_public_key=enrolled)
    )

    def trusted_detail(bad: dict) -> str:
        (c,) = [
            c for c in check_receipt(bad, expected_public_key=enrolled) if c.name == "trusted key"
        ]
        assert not c.ok
        return c.detail

    cut = copy.deepcopy(receipt)
    cut["key_history"] = cut["key_history"][1:]  # skip the first hand-over
    assert "is not signed by key" in trusted_detail(cut)
    none = copy.deepcopy(receipt)
    none["key_history"] = []
    assert "no key_history" in trusted_detail(none)
    forged = copy.deepcopy(receipt)
    sig = bytearray(bytes.fromhex(forged["key_history"][0]["header_signature"]))
    sig[10] ^= 0x04
    forged["key_history"][0]["header_signature"] = sig.hex()
    assert "is not signed by key" in trusted_detail(forged)
    swapped = copy.deepcopy(receipt)
    swapped["key_history"].reverse()
    assert not all(c.ok for c in check_receipt(swapped, expected_public_key=enrolled))


def test_the_documented_script_follows_the_key_history(rotated, tmp_path: Path) -> None:
    store, _gw, enrolled, _current = rotated
    script = tmp_path / "check.py"
    script.write_text(doc_script(), encoding="utf-8")
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/13"))
    path = tmp_path / "r.json"

    def run(r: dict, key: bytes) -> subprocess.CompletedProcess[str]:
        path.write_text(json.dumps(r), encoding="utf-8")
        return subprocess.run(
            [sys.executable, str(script), str(path), key.hex()],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run(receipt, enrolled)
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stderr
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert "INVALID" in run(receipt, stranger).stderr
    cut = copy.deepcopy(receipt)
    cut["key_history"] = cut["key_history"][:1]
    assert "does not lead to" in run(cut, enrolled).stderr


def test_cli_on_a_receipt_without_the_readable_copies(filled, tmp_path: Path, capsys) -> None:
    store, _gw = filled
    receipt = build_receipt(store, ReadingRef.parse("gw-1/7/4"))
    del receipt["reading"]
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(receipt))
    assert edgeseal_main(["check-receipt", str(path), "--expect-key", _gw.public_key.hex()]) == 0
    assert "VALID receipt: reading gw-1/7/4 (boot 1) is in batch seq 1" in capsys.readouterr().out
    assert edgeseal_main(["check-receipt", str(tmp_path / "absent.json")]) == 2


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b'{"format": "edgeseal-receipt/1"', "not JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, why: str
) -> None:
    path = tmp_path / "receipt.json"
    path.write_bytes(content)
    assert edgeseal_main(["check-receipt", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{path} is not a receipt: {why}" in err, (out, err)


def test_without_an_enrolled_key_a_consistent_forgery_is_not_called_valid(
    filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt names its own key: one made under a stranger's key is consistent."""
    _store, gw = filled
    forger = GatewayChain()  # gw-1 too, under a key of its own
    with VerifierStore(tmp_path / "forger.sqlite", synchronous="normal") as forged_store:
        proc = BatchProcessor(forged_store, TrustStore({"gw-1": forger.public_key}), worker="f")
        for b in forger.batches(2, n=7):
            proc.handle(batch_topic("gw-1"), b.to_payload())
        forged = build_receipt(forged_store, ReadingRef.parse("gw-1/7/9"))
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))

    assert edgeseal_main(["check-receipt", str(path)]) == 3
    out = capsys.readouterr().out
    assert "VALID" not in out, out
    assert (
        f"KEY NOT CHECKED: receipt {path} is consistent (reading gw-1/7/9 (boot 1) is in batch "
        f"seq 2), but its key {forger.public_key.hex()} was NOT checked against gateway gw-1's "
        "enrolled key"
    ) in out, out
    assert "--expect-key" in out.splitlines()[-1]
    # Pinned to the enrolled key, the forgery fails; the genuine key is not the forger's.
    assert edgeseal_main(["check-receipt", str(path), "--expect-key", gw.public_key.hex()]) == 1
    assert "FAIL trusted key" in capsys.readouterr().out
    # Asked for explicitly, the receipt's own key is taken, and the line still says so.
    assert edgeseal_main(["check-receipt", str(path), "--no-key-check"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("VALID receipt: reading gw-1/7/9") and "NOT checked" in last, last
    with pytest.raises(SystemExit) as both:
        edgeseal_main(
            ["check-receipt", str(path), "--no-key-check", "--expect-key", gw.public_key.hex()]
        )
    assert both.value.code == 2
