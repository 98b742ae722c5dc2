"""The witness in-process behind its real HTTP server: every tlog-witness answer and attack."""

from __future__ import annotations

import http.client
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from witness_helpers import ORIGIN, SampleLog

from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner, CosignatureVerifier
from edgeseal.tlog.note import NoteSigner, NoteVerifier, parse_note, sign_note
from edgeseal.witness.client import WitnessRefused, WitnessUnavailable, request_cosignature
from edgeseal.witness.core import Witness
from edgeseal.witness.protocol import encode_add_checkpoint
from edgeseal.witness.server import WitnessServer
from edgeseal.witness.state import StateError, WitnessState, origin_hash

NOW = 1_700_000_000


class Running:
    def __init__(self, tmp: Path, log: SampleLog) -> None:
        self.cosigner = CosignatureSigner("witness.example/w1", Ed25519PrivateKey.generate())
        self.state = WitnessState(tmp / "witness.sqlite")
        self.witness = Witness(
            self.cosigner, {ORIGIN: [NoteVerifier.from_vkey(log.vkey())]}, self.state, lambda: NOW
        )
        self.server = WitnessServer(("127.0.0.1", 0), self.witness, max_body=8192, timeout_s=5)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.verifier = CosignatureVerifier.from_vkey(self.cosigner.verifier_key())

    def add(self, log: SampleLog, old: int, size: int, proof: list[bytes] | None = None) -> int:
        """Submit; the cosignature's verified timestamp."""
        sigs = request_cosignature(
            self.url, old, log.proof(old, size) if proof is None else proof, log.note(size), 5
        )
        assert len(sigs) == 1
        stamp = self.verifier.verify(log.checkpoint(size), sigs[0])
        assert stamp is not None
        return stamp

    def refused(
        self, log: SampleLog, old: int, size: int, proof: list[bytes] | None = None
    ) -> WitnessRefused:
        with pytest.raises(WitnessRefused) as info:
            self.add(log, old, size, proof)
        return info.value

    def raw(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1], timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
            self.server.server_close()
            self.state.close()


@pytest.fixture
def log() -> SampleLog:
    return SampleLog.new()


@pytest.fixture
def running(tmp_path: Path, log: SampleLog) -> Iterator[Running]:
    r = Running(tmp_path, log)
    try:
        yield r
    finally:
        r.close()


def test_cosigns_a_growing_log(running: Running, log: SampleLog) -> None:
    assert running.add(log, 0, 5) == NOW
    assert running.add(log, 5, 300) == NOW
    assert running.add(log, 300, 300) == NOW  # the same checkpoint again: still consistent
    record = running.state.get(ORIGIN)
    assert record is not None and record.size == 300


def test_monitoring_path_serves_the_cosigned_checkpoint(running: Running, log: SampleLog) -> None:
    status, _ = running.raw("GET", f"/{origin_hash(ORIGIN)}/checkpoint", None, {})
    assert status == 404
    running.add(log, 0, 7)
    status, body = running.raw("GET", f"/{origin_hash(ORIGIN)}/checkpoint", None, {})
    assert status == 200
    note = parse_note(body)
    assert note.text == log.checkpoint(7).body()
    cosig = [s for s in note.signatures if running.verifier.matches(s)]
    assert running.verifier.verify(log.checkpoint(7), cosig[0]) == NOW


def test_split_view_is_refused(running: Running, log: SampleLog) -> None:
    running.add(log, 0, 8)
    other = SampleLog.new("forged", key=None)
    other.signer = log.signer  # the same log key signs a second, different tree
    # Knowing nothing, the second tree is sent from 0: the witness names its size.
    refused = running.refused(other, 0, 12)
    assert (refused.status, refused.old_size) == (409, 8)
    # From 8, with the second tree's own proof: it does not lead from the cosigned root.
    refused = running.refused(other, 8, 12)
    assert refused.status == 422 and "does not verify" in refused.detail
    # The same size with another root.
    refused = running.refused(other, 8, 8)
    assert refused.status == 422 and "another root" in refused.detail
    # The honest log still goes on.
    assert running.add(log, 8, 20) == NOW


def test_smaller_checkpoint_is_refused(running: Running, log: SampleLog) -> None:
    running.add(log, 0, 10)
    assert running.refused(log, 10, 6, proof=[]).status == 400  # old above the new size
    refused = running.refused(log, 6, 6)
    assert (refused.status, refused.old_size) == (409, 10)
    refused = running.refused(log, 0, 6)
    assert (refused.status, refused.old_size) == (409, 10)


def test_bad_log_signatures_are_refused(running: Running, log: SampleLog) -> None:
    impostor = SampleLog.new()  # same origin and name, another key: an unknown key
    refused = running.refused(impostor, 0, 3)
    assert refused.status == 403 and "no signature by a key trusted" in refused.detail
    # The trusted key's line over another text: a known key whose signature fails.
    sig_lines = sign_note(log.checkpoint(5).body(), [log.signer]).split(b"\n\n")[1]
    spliced = log.checkpoint(4).body().encode() + b"\n" + sig_lines
    with pytest.raises(WitnessRefused) as info:
        request_cosignature(running.url, 0, [], spliced, 5)
    assert info.value.status == 403 and "does not verify" in info.value.detail
    assert running.state.get(ORIGIN) is None


def test_unknown_origin_is_404(running: Running) -> None:
    stranger = NoteSigner("other.example/log", Ed25519PrivateKey.generate())
    cp = Checkpoint("other.example/log", 1, b"\1" * 32)
    with pytest.raises(WitnessRefused) as info:
        request_cosignature(running.url, 0, [], sign_note(cp.body(), [stranger]), 5)
    assert info.value.status == 404 and "unknown log origin" in info.value.detail


def test_bad_proofs_are_422(running: Running, log: SampleLog) -> None:
    running.add(log, 0, 5)
    proof = log.proof(5, 9)
    flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert running.refused(log, 5, 9, flipped).status == 422
    assert running.refused(log, 5, 9, proof[:-1]).status == 422
    assert running.refused(log, 5, 9, [*proof, proof[0]]).status == 422


def test_proof_from_zero_must_be_empty_and_empty_tree_root(
    running: Running, log: SampleLog
) -> None:
    assert running.refused(log, 0, 3, [b"\0" * 32]).status == 422
    empty = Checkpoint(ORIGIN, 0, b"\0" * 32)
    with pytest.raises(WitnessRefused) as info:
        request_cosignature(running.url, 0, [], sign_note(empty.body(), [log.signer]), 5)
    assert info.value.status == 422 and "empty tree" in info.value.detail
    assert running.add(log, 0, 0) == NOW  # the real empty tree is fine


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("empty", b""),
        ("no-old-line", b"\nexample\n"),
        ("old-leading-zero", b"old 05\n\n"),
        ("old-negative", b"old -1\n\n"),
        ("old-huge", b"old 99999999999999999999\n\n"),
        ("no-blank-line", b"old 0\n"),
        ("proof-not-base64", b"old 3\n!!!!\n\n"),
        ("proof-short-hash", b"old 3\nAAAA\n\n"),
        ("proof-64-lines", b"old 3\n" + b"A" * 43 + b"=\n" * 64 + b"\n"),
        ("note-not-signed", b"old 0\n\nexample.org/edgeseal/log\n1\n" + b"A" * 43 + b"=\n"),
        ("not-a-checkpoint", b"old 0\n\nhello\n\n\xe2\x80\x94 a AAAAAAA=\n"),
        ("not-utf8", b"old 0\n\n\xff\xfe\n\n\xe2\x80\x94 a AAAAAAA=\n"),
    ],
)
def test_malformed_bodies_are_400(running: Running, name: str, body: bytes) -> None:
    status, reply = running.raw("POST", "/add-checkpoint", body, {})
    assert status == 400, (name, reply)
    assert reply.startswith(b"malformed request:")


def test_http_limits(running: Running, log: SampleLog) -> None:
    body = encode_add_checkpoint(0, [], log.note(3))
    assert running.raw("POST", "/add-checkpoint", b"x" * 9000, {})[0] == 413
    conn = http.client.HTTPConnection("127.0.0.1", running.server.server_address[1], timeout=5)
    conn.putrequest("POST", "/add-checkpoint")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()
    assert running.raw("POST", "/other", body, {})[0] == 404
    assert running.raw("GET", "/add-checkpoint", None, {})[0] == 404
    assert running.raw("POST", "/add-checkpoint", body, {})[0] == 200


def test_client_errors(running: Running, log: SampleLog) -> None:
    with pytest.raises(ValueError, match="http"):
        request_cosignature("ftp://127.0.0.1/", 0, [], log.note(1), 5)
    running.close()
    with pytest.raises(WitnessUnavailable, match="unreachable"):
        request_cosignature(running.url, 0, [], log.note(1), 2)


def test_concurrent_submissions_cosign_exactly_one(running: Running, log: SampleLog) -> None:
    # tlog-witness: checking the old size and storing the new checkpoint are one atomic
    # step. Eight clients all send a checkpoint from size 0 at once: one wins, the others
    # learn the size it stored.
    notes = [(size, log.note(size)) for size in range(3, 11)]
    results: dict[int, object] = {}

    def submit(size: int, note: bytes) -> None:
        try:
            results[size] = request_cosignature(running.url, 0, [], note, 10)
        except WitnessRefused as exc:
            results[size] = exc

    threads = [threading.Thread(target=submit, args=pair) for pair in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [size for size, r in results.items() if isinstance(r, list)]
    assert len(winners) == 1
    losers = [r for r in results.values() if isinstance(r, WitnessRefused)]
    assert len(losers) == 7
    assert all(r.status == 409 and r.old_size == winners[0] for r in losers)
    record = running.state.get(ORIGIN)
    assert record is not None and record.size == winners[0]


def test_a_stalled_client_is_disconnected(tmp_path: Path, log: SampleLog) -> None:
    r = Running(tmp_path, log)
    r.server.request_timeout_s = 0.2
    try:
        with socket.create_connection(("127.0.0.1", r.server.server_address[1])) as sock:
            sock.sendall(b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 100\r\n\r\nold 0\n")
            sock.settimeout(30)
            # The server gives up on the missing body and closes the connection.
            assert sock.recv(4096) == b""
        assert r.add(log, 0, 2) == NOW  # and keeps serving others
    finally:
        r.close()


def test_newer_state_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=7")
    conn.close()
    with pytest.raises(StateError, match="schema version 7"):
        WitnessState(path)


def test_negative_content_length_is_400(running: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.server.server_address[1], timeout=5)
    conn.putrequest("POST", "/add-checkpoint")
    conn.putheader("Content-Length", "-5")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 400 and b"negative" in resp.read()
    conn.close()


def test_same_size_with_a_proof_is_422(running: Running, log: SampleLog) -> None:
    running.add(log, 0, 4)
    refused = running.refused(log, 4, 4, [b"\0" * 32])
    assert refused.status == 422 and "equal sizes must be empty" in refused.detail
