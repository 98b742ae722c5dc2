"""Receipts of version 2: reading -> batch -> log inclusion -> signed checkpoint
(-> cosignatures -> anchors), built from a real store and checked link by link."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_helpers import ORIGIN, accept, full_log, log_signer, sequencer, store_at
from verifier_builders import GatewayChain

from edgeseal.anchor.evidence import AnchorTrust
from edgeseal.anchor.evm import EvmAnchor, connect, deploy_contract
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.testing.evm_node import GanacheNode
from edgeseal.tlog.checkpoint import Checkpoint, parse_checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.tlog.note import add_signatures, parse_note
from edgeseal.verifier.receipt import (
    RECEIPT_FORMAT,
    RECEIPT_FORMAT_V2,
    ReadingRef,
    build_receipt,
    check_receipt,
)
from edgeseal.verifier.receipt_log import LogTrust

NO_ANCHOR = LogTrust(anchors_needed=0)
DOC = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def _failed(checks) -> list[str]:
    return [c.name for c in checks if not c.ok]


def test_a_receipt_carries_the_log_proof_once_a_checkpoint_includes_the_batch(
    tmp_path: Path,
) -> None:
    signer = log_signer()
    gw = GatewayChain("gw-a")
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [gw, GatewayChain("gw-b")], 41)
        ref = ReadingRef("gw-a", 7, 3)
        assert build_receipt(store, ref)["format"] == RECEIPT_FORMAT  # no checkpoint yet
        sequencer(store, signer).step()
        receipt = build_receipt(store, ref)
    assert receipt["format"] == RECEIPT_FORMAT_V2
    assert receipt["log"]["tree_size"] == 41 and receipt["log"]["index"] == 6
    trusted = LogTrust(log_key=signer.verifier_key(), anchors_needed=0)
    checks = check_receipt(receipt, expected_public_key=gw.enrolled_key, log_trust=trusted)
    assert _failed(checks) == []
    names = [c.name for c in checks]
    assert {"checkpoint signature", "log inclusion"} <= set(names)


def test_each_broken_link_is_named(tmp_path: Path) -> None:
    signer = log_signer()
    gw = GatewayChain("gw-a")
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [gw], 9)
        sequencer(store, signer).step()
        good = build_receipt(store, ReadingRef("gw-a", 7, 4))
    trusted = LogTrust(log_key=signer.verifier_key(), anchors_needed=0)

    def failed_after(change) -> list[str]:
        receipt = copy.deepcopy(good)
        change(receipt)
        return _failed(check_receipt(receipt, log_trust=trusted))

    def proof_bit(r) -> None:
        h = bytearray.fromhex(r["log"]["inclusion_proof"][0])
        h[0] ^= 1
        r["log"]["inclusion_proof"][0] = h.hex()

    def other_index(r) -> None:
        r["log"]["index"] = 5

    def checkpoint_root(r) -> None:
        lines = r["log"]["checkpoint"].split("\n")
        lines[2] = "A" * 43 + "="
        r["log"]["checkpoint"] = "\n".join(lines)

    def other_log_key(r) -> None:
        r["log"]["log_key"] = log_signer().verifier_key()

    def bigger_tree(r) -> None:
        r["log"]["tree_size"] = 10

    assert failed_after(proof_bit) == ["log inclusion"]
    assert failed_after(other_index) == ["log inclusion"]
    assert failed_after(checkpoint_root) == ["checkpoint signature"]
    assert failed_after(bigger_tree) == ["checkpoint size"]
    assert failed_after(lambda r: r.pop("log")) == ["log structure"]
    # Trusting the receipt's own log key: a receipt re-signed by another key still
    # fails, because its checkpoint does not carry that key's signature.
    assert _failed(check_receipt(good, log_trust=NO_ANCHOR)) == []
    receipt = copy.deepcopy(good)
    other_log_key(receipt)
    assert _failed(check_receipt(receipt, log_trust=NO_ANCHOR)) == ["checkpoint signature"]
    # The default wants one anchor: a log without any says so.
    assert _failed(check_receipt(good, log_trust=LogTrust(log_key=signer.verifier_key()))) == [
        "anchored"
    ]


def _log_script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    return blocks[1]


def test_the_documented_log_script_checks_a_real_receipt_through_to_the_chain(
    tmp_path: Path,
) -> None:
    """docs/receipts.md's second script, on a receipt anchored at a real TSA and on a
    real local chain (ganache over JSON-RPC), and on tampered copies."""
    script = tmp_path / "check_log.py"
    script.write_text(_log_script(), encoding="utf-8")
    with GanacheNode() as node:
        w3 = connect(node.url)
        address = deploy_contract(w3, node.private_key)
        evm = EvmAnchor(w3, address, node.private_key)
        trust = AnchorTrust(evm_rpc_url=node.url, evm_contracts=(address,))
        with full_log(tmp_path, evm, trust, batches=5) as world:
            with store_at(world.path) as store:
                receipt = build_receipt(store, ReadingRef("gw-1", 7, 3))
            ca = tmp_path / "tsa-ca.pem"
            ca.write_bytes(world.tsa.ca_pem)
            assert world.check(receipt, online=True) == []

            def run(r: dict, *extra: str) -> subprocess.CompletedProcess[str]:
                path = tmp_path / "receipt.json"
                path.write_text(json.dumps(r), encoding="utf-8")
                args = [world.log_key.verifier_key(), world.witness_key.verifier_key(), str(ca)]
                return subprocess.run(
                    [sys.executable, str(script), str(path), *args, *extra],
                    check=False,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )

            ok = run(receipt, node.url)
            assert ok.returncode == 0 and ok.stdout.startswith("VALID: entry 3 of"), ok
            bad_proof = copy.deepcopy(receipt)
            bad_proof["log"]["index"] = 2
            assert "does not lead" in run(bad_proof).stdout
            other_tsa = copy.deepcopy(receipt)
            token = next(e for e in other_tsa["anchors"] if e["kind"] == "rfc3161")
            other = TsaAnchor(world.tsa.url).anchor(Checkpoint(ORIGIN, 9, bytes(32)), b"")
            token["token"] = other.data["token"]
            assert "another hash" in run(other_tsa).stdout
            # The contract holds another root for size 4 than the one a forger claims.
            forged = copy.deepcopy(receipt)
            for e in forged["anchors"]:
                if e["kind"] == "evm":
                    e["size"] = 4
            assert "another checkpoint" in run(forged, node.url).stdout


def test_a_witness_policy_counts_distinct_witnesses_not_cosignature_lines(
    tmp_path: Path,
) -> None:
    """Regression: one witness cosigning twice (two timestamps), or one key given twice,
    met a policy of two witnesses."""
    signer = log_signer()
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [GatewayChain("gw-a")], 5)
        sequencer(store, signer).step()
        receipt = build_receipt(store, ReadingRef("gw-a", 7, 2))
    note = receipt["log"]["checkpoint"].encode()
    checkpoint = parse_checkpoint(parse_note(note).text)
    one, other = (CosignatureSigner(name, Ed25519PrivateKey.generate()) for name in "ab")
    twice = add_signatures(
        note, [one.sign(checkpoint, 1_700_000_000), one.sign(checkpoint, 1_700_000_001)]
    )
    receipt["log"]["checkpoint"] = twice.decode()

    def failed(*keys: str, needed: int | None = None) -> list[str]:
        trust = LogTrust(
            log_key=signer.verifier_key(),
            witness_keys=keys,
            witnesses_needed=needed,
            anchors_needed=0,
        )
        return _failed(check_receipt(receipt, log_trust=trust))

    assert failed(one.verifier_key()) == []
    assert failed(one.verifier_key(), needed=2) == ["cosignatures"]
    assert failed(one.verifier_key(), one.verifier_key()) == ["cosignatures"]
    assert failed(one.verifier_key(), other.verifier_key(), needed=1) == []
    assert failed(one.verifier_key(), other.verifier_key()) == ["cosignatures"]
    receipt["log"]["checkpoint"] = add_signatures(
        twice, [other.sign(checkpoint, 1_700_000_002)]
    ).decode()
    assert failed(one.verifier_key(), other.verifier_key()) == []
    # Witnesses asked for without a key to check them by: not met, never silently passed.
    assert failed(needed=1) == ["cosignatures"]
