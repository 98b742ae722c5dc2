"""Shared pieces of the transparency-log tests: a store with accepted batches, a log key,
a sequencer, and the log's HTTP handler behind a real loopback server."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic

from edgeseal.anchor.evidence import Anchor, AnchorTrust
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.tlog.note import NoteSigner, NoteVerifier
from edgeseal.verifier.http_types import Handler, HttpRequest
from edgeseal.verifier.log_config import LogConfig, WitnessConfig
from edgeseal.verifier.log_sequencer import LogSequencer
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.receipt import check_receipt
from edgeseal.verifier.receipt_log import LogTrust
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.witness.core import Witness
from edgeseal.witness.server import WitnessServer
from edgeseal.witness.state import WitnessState

ORIGIN = "example.org/edgeseal/test-log"


def log_config(
    *,
    entries: int = 100,
    interval_s: float = 3600.0,
    witnesses: Sequence[WitnessConfig] = (),
    policy: int | None = None,
) -> LogConfig:
    return LogConfig(
        enabled=True,
        origin=ORIGIN,
        key_path=None,
        checkpoint_interval_s=interval_s,
        checkpoint_entries=entries,
        witnesses=tuple(witnesses),
        witness_policy=len(witnesses) if policy is None else policy,
        witness_timeout_s=5.0,
    )


def accept(store: VerifierStore, chains: Sequence[GatewayChain], batches: int) -> list[Any]:
    """Accept ``batches`` one-reading batches, round robin over ``chains``; the sealed
    batches in acceptance (= log) order."""
    proc = BatchProcessor(
        store, TrustStore({c.gateway_id: c.enrolled_key for c in chains}), worker="w1"
    )
    sent = []
    for i in range(batches):
        chain = chains[i % len(chains)]
        sealed = chain.next_batch(1)
        proc.handle(batch_topic(chain.gateway_id), sealed.to_payload())
        sent.append(sealed)
    return sent


def sequencer(
    store: VerifierStore, signer: NoteSigner, config: LogConfig | None = None, **kw: Any
) -> LogSequencer:
    return LogSequencer(store, config or log_config(), signer, worker="w1", **kw)


def log_signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """The handler on 127.0.0.1 behind a ThreadingHTTPServer; yields its base URL."""

    class Adapter(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            response = handler(HttpRequest(self.command, self.path.split("?", 1)[0]))
            if response is None:
                self.send_error(404)
                return
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = _answer
        do_HEAD = _answer

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def store_at(path: Path) -> VerifierStore:
    return VerifierStore(path, synchronous="normal")


@dataclass
class World:
    """A log with everything around it: a store with accepted batches of ``gw``, a real
    witness on loopback, a real TSA, and an EVM anchor; one checkpoint issued and
    complete."""

    path: Path
    log_key: NoteSigner
    witness_key: CosignatureSigner
    witness_url: str
    tsa: LocalTsa
    evm: Anchor
    evm_trust: AnchorTrust
    gw: GatewayChain
    sent: list[Any]

    def sequencer(self, store: VerifierStore) -> LogSequencer:
        config = log_config(
            witnesses=[WitnessConfig(self.witness_url, self.witness_key.verifier_key())]
        )
        anchors = [TsaAnchor(self.tsa.url, ca_certs=[self.tsa.ca_pem]), self.evm]
        return sequencer(store, self.log_key, config, anchors=anchors)

    def trust(self, online: bool = False) -> LogTrust:
        return LogTrust(
            log_key=self.log_key.verifier_key(),
            witness_keys=(self.witness_key.verifier_key(),),
            online=online,
            anchors=replace(self.evm_trust, tsa_roots=(self.tsa.ca_pem,)),
            anchors_needed=2,
        )

    def check(self, receipt: dict[str, Any], online: bool = False) -> list[str]:
        """``name: detail`` of every failed check."""
        checks = check_receipt(
            receipt, expected_public_key=self.gw.enrolled_key, log_trust=self.trust(online)
        )
        return [f"{c.name}: {c.detail}" for c in checks if not c.ok]


@contextmanager
def full_log(
    tmp_path: Path, evm: Anchor, evm_trust: AnchorTrust, batches: int = 6
) -> Iterator[World]:
    log_key = log_signer()
    witness_key = CosignatureSigner("witness-1", Ed25519PrivateKey.generate())
    state = WitnessState(tmp_path / "witness.sqlite")
    server = WitnessServer(
        ("127.0.0.1", 0),
        Witness(witness_key, {ORIGIN: [NoteVerifier.from_vkey(log_key.verifier_key())]}, state),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with LocalTsa() as tsa:
            gw = GatewayChain()
            url = f"http://127.0.0.1:{server.server_address[1]}"
            w = World(tmp_path / "v.sqlite", log_key, witness_key, url, tsa, evm, evm_trust, gw, [])
            with store_at(w.path) as store:
                w.sent = accept(store, [gw], batches)
                done = w.sequencer(store).step()
                assert done is not None and done.published and done.pending == "", done
            yield w
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        state.close()
