"""``edgeseal log``: show, audit and prove against a log served over real loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from log_helpers import accept, log_signer, sequencer, serve, store_at
from verifier_builders import GatewayChain, config_toml

from edgeseal import native
from edgeseal.cli import main as edgeseal_main
from edgeseal.verifier.http_types import Handler
from edgeseal.verifier.log_http import make_log_handler, read_only


@pytest.fixture
def served(tmp_path: Path):
    signer = log_signer()
    a, b = GatewayChain("gw-a"), GatewayChain("gw-b")
    path = tmp_path / "v.sqlite"
    with store_at(path) as store:
        sent = accept(store, [a, b], 300)
        sequencer(store, signer).step()
    config = tmp_path / "verifier.toml"
    config.write_text(
        config_toml(path, {"gw-a": a.enrolled_key, "gw-b": b.enrolled_key}, port=1883)
    )
    handler: Handler = make_log_handler(read_only(path))
    with serve(handler) as url:
        yield f"{url}/log", signer, config, sent, path, a


def test_show_from_the_store_and_from_the_url(served, capsys) -> None:
    url, signer, config, _sent, _path, _a = served
    assert edgeseal_main(["log", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "entries in the store: 300" in out and "published: size 300" in out
    # The key witnesses and relying parties are given (--log-key), read from the store.
    assert f"log key: {signer.verifier_key()}\n" in out
    assert edgeseal_main(["log", "show", "--url", url, "--log-key", signer.verifier_key()]) == 0
    out = capsys.readouterr().out
    assert ": valid" in out and "size 300" in out
    other = log_signer().verifier_key()
    assert edgeseal_main(["log", "show", "--url", url, "--log-key", other]) == 1
    assert "INVALID checkpoint" in capsys.readouterr().err


def test_audit_passes_a_genuine_log_and_names_a_rewritten_entry(served, capsys) -> None:
    url, signer, config, _sent, path, gw_a = served
    args = ["log", "audit", "--url", url, "--log-key", signer.verifier_key()]
    assert edgeseal_main([*args, "--config", str(config)]) == 0
    assert "OK log" in capsys.readouterr().out
    # The operator rewrites entry 7 in the store (a stolen key re-signs seq 4 of gw-b).
    forged = GatewayChain("gw-b", key=GatewayChain().key)
    fake = forged.next_batch(1)
    with store_at(path) as store, store.write():
        store._conn.execute(
            "UPDATE log_entries SET entry = ? WHERE log_index = 7",
            (fake.header_bytes + fake.header_signature,),
        )
    assert edgeseal_main([*args, "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "entry 7: batch gw-b seq 1: not signed by the key" in out, out
    assert "rebuild the root" in out and "FAILED log" in out
    # Keys given one by one: a gateway left out is named, not skipped.
    assert edgeseal_main([*args, "--gateway", f"gw-a={gw_a.enrolled_key.hex()}"]) == 1
    assert "gateway 'gw-b' is not enrolled" in capsys.readouterr().out
    assert edgeseal_main([*args, "--gateway", "gw-a=abc"]) == 2
    assert "--gateway gw-a" in capsys.readouterr().err


def test_prove_prints_proofs_that_verify(served, capsys) -> None:
    url, _signer, _config, sent, path, _a = served
    with store_at(path) as store:
        root = store.log.latest_checkpoint().root_hash
    assert edgeseal_main(["log", "prove", "--url", url, "inclusion", "137", "300"]) == 0
    proof = json.loads(capsys.readouterr().out)
    entry = sent[137].header_bytes + sent[137].header_signature
    path_hashes = [bytes.fromhex(h) for h in proof["proof"]]
    assert native.verify_inclusion(entry, 137, 300, path_hashes, root)
    assert edgeseal_main(["log", "prove", "--url", url, "consistency", "100", "300"]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert proof["old_size"] == 100 and len(proof["proof"]) > 0
    old_root = native.merkle_root([s.header_bytes + s.header_signature for s in sent[:100]])
    hashes = [bytes.fromhex(h) for h in proof["proof"]]
    assert native.verify_consistency(100, 300, old_root, root, hashes)
    assert edgeseal_main(["log", "prove", "--url", url, "inclusion", "300", "300"]) == 2
    assert edgeseal_main(["log", "prove", "--url", url, "inclusion", "1", "400"]) == 2
    assert "cannot fetch" in capsys.readouterr().err
