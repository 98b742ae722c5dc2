"""Checkpoints cosigned by real witnesses (edgeseal.witness on loopback HTTP): the policy
decides publication, a witness that is down is retried, a 409 is answered with a proof
from the size the witness names, and a split view is refused by the witness."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_helpers import ORIGIN, accept, log_config, log_signer, sequencer, store_at
from verifier_builders import GatewayChain

from edgeseal.plumbing.metrics_http import PrivateMetrics
from edgeseal.tlog.checkpoint import open_checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner, CosignatureVerifier
from edgeseal.tlog.note import NoteSigner, NoteVerifier
from edgeseal.verifier.log_config import WitnessConfig
from edgeseal.verifier.log_sequencer import LogMetrics
from edgeseal.witness.core import Witness
from edgeseal.witness.server import WitnessServer
from edgeseal.witness.state import WitnessState


@contextmanager
def witness(
    tmp_path: Path,
    name: str,
    log_key: NoteSigner,
    *,
    signer: CosignatureSigner | None = None,
    port: int = 0,
) -> Iterator[tuple[str, CosignatureSigner]]:
    signer = signer or CosignatureSigner(name, Ed25519PrivateKey.generate())
    state = WitnessState(tmp_path / f"{name}.sqlite")
    logs = {ORIGIN: [NoteVerifier.from_vkey(log_key.verifier_key())]}
    server = WitnessServer(("127.0.0.1", port), Witness(signer, logs, state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", signer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        state.close()


def _cosigners(note: bytes, keys: list[str], log_key: NoteSigner) -> list[str]:
    checkpoint, opened = open_checkpoint(note, NoteVerifier.from_vkey(log_key.verifier_key()))
    names = []
    for vkey in keys:
        v = CosignatureVerifier.from_vkey(vkey)
        if any(v.verify(checkpoint, s) is not None for s in opened.signatures):
            names.append(v.name)
    return names


def test_the_policy_decides_and_a_witness_that_was_down_is_asked_again(tmp_path: Path) -> None:
    log_key = log_signer()
    published: list[bytes] = []
    metrics = LogMetrics(PrivateMetrics("test"))
    down_signer = CosignatureSigner("w-down", Ed25519PrivateKey.generate())
    with (
        witness(tmp_path, "w-up", log_key) as (url, up_signer),
        store_at(tmp_path / "v.sqlite") as store,
    ):
        with witness(tmp_path, "w-down", log_key, signer=down_signer) as (down_url, _):
            pass  # stopped again: its port is closed now
        config = log_config(
            interval_s=0.05,
            witnesses=[
                WitnessConfig(url, up_signer.verifier_key()),
                WitnessConfig(down_url, down_signer.verifier_key()),
            ],
            policy=2,
        )
        seq = sequencer(store, log_key, config, publish=published.append, metrics=metrics)
        accept(store, [GatewayChain()], 12)
        done = seq.step()
        assert done is not None and (done.cosignatures, done.published) == (1, False)
        assert done.pending == "witnesses"
        assert store.log.latest_checkpoint() is None and published == []
        assert metrics.witness_failures.labels("w-down")._value.get() == 1
        keys = [up_signer.verifier_key(), down_signer.verifier_key()]
        port = int(down_url.rsplit(":", 1)[1])
        with witness(tmp_path, "w-down", log_key, signer=down_signer, port=port):
            time.sleep(0.06)  # the retry waits one checkpoint interval
            again = seq.step()
        assert again is not None and (again.cosignatures, again.published) == (2, True)
        latest = store.log.latest_checkpoint()
        assert latest is not None and latest.size == 12 and latest.pending == ""
        assert published == [latest.best_note]
        assert sorted(_cosigners(latest.best_note, keys, log_key)) == ["w-down", "w-up"]


def test_a_409_is_answered_with_a_proof_from_the_witness_size(tmp_path: Path) -> None:
    log_key = log_signer()
    with (
        witness(tmp_path, "w1", log_key) as (url, w_signer),
        store_at(tmp_path / "v.sqlite") as store,
    ):
        config = log_config(witnesses=[WitnessConfig(url, w_signer.verifier_key())])
        seq = sequencer(store, log_key, config)
        accept(store, [GatewayChain("gw-a")], 7)
        assert seq.step().published
        # The store forgets what the witness saw (e.g. restored from a backup): the
        # witness answers 409 with its size 7 and the sequencer proves from there.
        with store.write():
            store.log.set_witness_size("w1", 0)
        accept(store, [GatewayChain("gw-b")], 300)
        done = seq.step()
        assert done is not None and done.published and done.cosignatures == 1
        assert store.log.witness_size("w1") == 307


def test_a_split_view_is_refused_by_the_witness(tmp_path: Path) -> None:
    """A log operator who shows two histories: the second never gets a cosignature."""
    log_key = log_signer()
    gw = GatewayChain()
    with witness(tmp_path, "w1", log_key) as (url, w_signer):
        config = log_config(witnesses=[WitnessConfig(url, w_signer.verifier_key())])
        with store_at(tmp_path / "honest.sqlite") as honest:
            accept(honest, [gw], 5)
            assert sequencer(honest, log_key, config).step().published
        # The same log key over another history of the same size, then larger.
        with store_at(tmp_path / "fork.sqlite") as fork:
            accept(fork, [GatewayChain()], 8)
            with fork.write():
                fork.log.set_witness_size("w1", 5)  # as if it had shown the witness size 5
            done = sequencer(fork, log_key, config).step()
            assert done is not None and not done.published and done.cosignatures == 0
            assert fork.log.latest_checkpoint() is None


def test_older_checkpoints_left_incomplete_are_not_retried_once_a_newer_one_is_published(
    tmp_path: Path,
) -> None:
    log_key = log_signer()
    with store_at(tmp_path / "v.sqlite") as store:
        with witness(tmp_path, "w1", log_key) as (url, w_signer):
            pass  # its port is closed now: the first checkpoint stays incomplete
        config = log_config(
            interval_s=0.05, witnesses=[WitnessConfig(url, w_signer.verifier_key())]
        )
        seq = sequencer(store, log_key, config)
        accept(store, [GatewayChain("gw-a")], 3)
        first = seq.step()
        assert first is not None and not first.published
        accept(store, [GatewayChain("gw-b")], 4)
        time.sleep(0.06)
        second = seq.step()  # issues size 7, the witness is still down
        assert second is not None and second.size == 7 and not second.published
        port = int(url.rsplit(":", 1)[1])
        with witness(tmp_path, "w1", log_key, signer=w_signer, port=port):
            time.sleep(0.06)
            done = seq.step()
            assert done is not None and done.size == 7 and done.published
            time.sleep(0.06)
            assert seq.step() is None  # size 3 is not sent to the witness again
        pending = store._conn.execute(
            "SELECT size FROM log_checkpoints WHERE pending != ''"
        ).fetchall()
        assert pending == []
