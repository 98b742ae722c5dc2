"""TileClient and audit_log against a static file tree served by http.server.

The tree is written the way a log would publish it: TileIntegrator's tiles and the
entry bundles at each checkpointed size (partial ones included), and a signed checkpoint.
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.native.merkle import leaf_hash
from edgeseal.tlog.audit import audit_log
from edgeseal.tlog.checkpoint import Checkpoint
from edgeseal.tlog.client import TileClient, TileFetchError
from edgeseal.tlog.note import NoteSigner, NoteVerifier, sign_note
from edgeseal.tlog.tiles import (
    TileId,
    TileIntegrator,
    encode_entry_bundle,
    entries_path,
    tile_path,
    tiles_for_size,
)

ORIGIN = "example.org/edgeseal/log"


class StaticLog:
    """A log published as files in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        self.entries: list[bytes] = []
        self.tiles: dict[TileId, bytes] = {}

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def append(self, count: int, *, publish_checkpoint: bool = True) -> None:
        start = len(self.entries)
        new = [f"entry {i}".encode() for i in range(start, start + count)]
        tiles, root = TileIntegrator().integrate(
            start, [leaf_hash(e) for e in new], self.tiles.__getitem__
        )
        self.tiles.update(tiles)
        self.entries += new
        for t, data in tiles.items():
            self.write(tile_path(t), data)
        size = len(self.entries)
        for b in range(start // 256, (size + 255) // 256):
            bundle = self.entries[b * 256 : min(size, (b + 1) * 256)]
            self.write(entries_path(b, len(bundle)), encode_entry_bundle(bundle))
        if publish_checkpoint:
            self.publish(Checkpoint(ORIGIN, size, root))

    def publish(self, cp: Checkpoint, signer: NoteSigner | None = None) -> None:
        self.write("checkpoint", sign_note(cp.body(), [signer or self.signer]))

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_vkey(self.signer.verifier_key())


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_log(tmp_path: Path) -> Iterator[tuple[StaticLog, str]]:
    log = StaticLog(tmp_path / "log")
    log.root.mkdir()
    handler = functools.partial(_Quiet, directory=str(log.root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield log, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_a_good_log_audits_clean(static_log: tuple[StaticLog, str]) -> None:
    log, url = static_log
    for step in (100, 200, 400):
        log.append(step)
    seen: list[int] = []

    def check(index: int, entry: bytes) -> str | None:
        seen.append(index)
        return None if entry == f"entry {index}".encode() else "unexpected bytes"

    report = audit_log(TileClient(url), log.verifier(), check_entry=check)
    assert report.problems == [] and report.ok
    assert report.checkpoint is not None and report.checkpoint.size == 700
    assert seen == list(range(700))
    assert report.entries_checked == 700 and report.tiles_checked == len(tiles_for_size(700))


def test_entry_check_problems_are_reported_with_their_index(
    static_log: tuple[StaticLog, str],
) -> None:
    log, url = static_log
    log.append(10)
    report = audit_log(
        TileClient(url),
        log.verifier(),
        check_entry=lambda i, e: "bad gateway signature" if i == 5 else None,
    )
    assert report.problems == ["entry 5: bad gateway signature"] and not report.ok


def test_truncated_log_is_reported(static_log: tuple[StaticLog, str]) -> None:
    log, url = static_log
    log.append(600)
    # The checkpoint claims 700 entries; the tiles and bundles hold only 600.
    cp_700 = Checkpoint(ORIGIN, 700, b"\0" * 32)
    log.publish(cp_700)
    report = audit_log(TileClient(url), log.verifier(), check_entry=lambda i, e: None)
    assert not report.ok
    assert len(report.problems) == 1
    assert "holds 700 entries, but only the first 512 could be fetched" in report.problems[0]
    assert "truncated" in report.problems[0]


def test_modified_entry_is_reported(static_log: tuple[StaticLog, str]) -> None:
    log, url = static_log
    log.append(700)
    bundle = list(log.entries[256:512])
    bundle[300 - 256] = b"entry 300, rewritten"
    log.write(entries_path(1), encode_entry_bundle(bundle))
    report = audit_log(TileClient(url), log.verifier(), check_entry=lambda i, e: None)
    assert not report.ok
    assert any("rebuild the root" in p and "an entry was changed" in p for p in report.problems)
    assert any(p.startswith("tile/0/001: hash 44 (entry 300)") for p in report.problems)


def test_bad_checkpoint_signature_stops_the_audit(static_log: tuple[StaticLog, str]) -> None:
    log, url = static_log
    log.append(3)
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    log.publish(Checkpoint(ORIGIN, 3, b"\0" * 32), signer=other)
    report = audit_log(TileClient(url), log.verifier(), check_entry=lambda i, e: None)
    assert report.checkpoint is None and not report.ok
    assert report.problems[0].startswith("checkpoint: checkpoint refused: the note carries no")


def test_client_falls_back_to_the_full_tile_and_checks_sizes(
    static_log: tuple[StaticLog, str],
) -> None:
    log, url = static_log
    log.append(300)
    client = TileClient(url)
    # The partial level-0 tile of 200 was never written; the full tile 0 serves it.
    assert client.tile(TileId(0, 0, 200)) == log.tiles[TileId(0, 0)][: 200 * 32]
    assert client.entries(0, 10) == log.entries[:10]
    log.write(tile_path(TileId(0, 1, 44)), b"\0" * 31)
    with pytest.raises(TileFetchError, match="31 bytes"):
        client.tile(TileId(0, 1, 44))
    log.write(entries_path(1, 44), b"\0\5ab")
    with pytest.raises(TileFetchError, match="not an entry bundle"):
        client.entries(1, 44)
    with pytest.raises(TileFetchError, match="HTTP 404"):
        client.tile(TileId(3, 0))
    with pytest.raises(ValueError, match="http"):
        TileClient("file:///etc")


def test_client_reads_gzip_bodies(tmp_path: Path) -> None:
    body = gzip.compress(b"\x00\x02hi" * 3)

    class Gzip(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gzip)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        client = TileClient(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.entries(0, 3) == [b"hi"] * 3
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
