"""The sequencer on a real store: tiles, signed checkpoints, one issuer per size, and the
log served as C2SP tlog-tiles over a real loopback HTTP server."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

from log_helpers import ORIGIN, accept, log_config, log_signer, sequencer, serve, store_at
from verifier_builders import GatewayChain

from edgeseal import native
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.plumbing.metrics_http import PrivateMetrics
from edgeseal.testing.broker import free_port
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import open_checkpoint
from edgeseal.tlog.note import NoteVerifier
from edgeseal.tlog.tiles import (
    TileHashReader,
    TileId,
    decode_entry_bundle,
    entries_path,
    tile_path,
    tiles_for_size,
)
from edgeseal.verifier.http_types import HttpRequest, HttpResponse
from edgeseal.verifier.log_http import make_log_handler, read_only
from edgeseal.verifier.log_sequencer import LogMetrics


def test_checkpoints_commit_to_every_entry_in_acceptance_order(tmp_path: Path) -> None:
    signer = log_signer()
    with store_at(tmp_path / "v.sqlite") as store:
        sent = accept(store, [GatewayChain("gw-a"), GatewayChain("gw-b")], 300)
        seq = sequencer(store, signer, log_config(entries=100))
        assert seq.due(0)
        first = seq.issue()
        assert first is not None and first.size == 300
        checkpoint, _note = open_checkpoint(
            first.note, NoteVerifier.from_vkey(signer.verifier_key())
        )
        entries = [s.header_bytes + s.header_signature for s in sent]
        assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 300)
        assert checkpoint.root_hash == native.merkle_root(entries)
        assert seq.issue() is None and not seq.due(0)  # nothing new: no second checkpoint
        more = accept(store, [GatewayChain("gw-c")], 20)
        assert not seq.due(first.issued_us + 1)  # 20 < 100 entries, interval not over
        assert seq.due(first.issued_us + 3600 * 10**6)
        second = seq.issue()
        assert second is not None and second.size == 320
        assert second.root_hash == native.merkle_root(
            entries + [s.header_bytes + s.header_signature for s in more]
        )
        # Every tile of the tree is stored, and the tiles give the same root.
        for t in tiles_for_size(320):
            assert len(store.log.tile(t.level, t.index) or b"") >= 32 * t.width
        read = lambda t: (store.log.tile(t.level, t.index) or b"")[: 32 * t.width]
        assert TileHashReader(320, read).root() == second.root_hash


def test_two_workers_never_issue_the_same_size_twice(tmp_path: Path) -> None:
    signer = log_signer()
    path = tmp_path / "v.sqlite"
    with store_at(path) as a, store_at(path) as b:
        accept(a, [GatewayChain()], 10)
        one, two = sequencer(a, signer), sequencer(b, signer)
        assert one.issue() is not None
        assert two.issue() is None
        sizes = a._conn.execute("SELECT size FROM log_checkpoints").fetchall()
        assert sizes == [(10,)]


def test_without_witnesses_a_checkpoint_is_published_at_once(tmp_path: Path) -> None:
    signer = log_signer()
    published: list[bytes] = []
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [GatewayChain()], 5)
        seq = sequencer(store, signer, publish=published.append)
        done = seq.step()
        assert done is not None and done.published and done.pending == ""
        latest = store.log.latest_checkpoint()
        assert latest is not None and latest.size == 5
        assert published == [latest.note]
        assert seq.step() is None  # nothing new, nothing pending


def _get(handler, path: str) -> HttpResponse:
    response = handler(HttpRequest("GET", path))
    assert response is not None
    return response


def test_the_handler_serves_the_published_tree_and_nothing_beyond(tmp_path: Path) -> None:
    signer = log_signer()
    path = tmp_path / "v.sqlite"
    with store_at(path) as store:
        handler = make_log_handler(read_only(path))
        assert _get(handler, "/log/checkpoint").status == 404
        assert handler(HttpRequest("GET", "/api/other")) is None
        sent = accept(store, [GatewayChain("gw-a"), GatewayChain("gw-b")], 260)
        sequencer(store, signer).step()
        accept(store, [GatewayChain("gw-c")], 5)  # appended, not yet in a checkpoint
        got = _get(handler, "/log/checkpoint")
        assert got.status == 200 and got.content_type.startswith("text/plain")
        assert got.body == store.log.latest_checkpoint().note
        full = _get(handler, "/log/" + tile_path(TileId(0, 0)))
        assert full.status == 200 and full.content_type == "application/octet-stream"
        assert full.body == b"".join(
            native.leaf_hash(s.header_bytes + s.header_signature) for s in sent[:256]
        )
        assert ("Cache-Control", "public, max-age=31536000, immutable") in full.headers
        partial = _get(handler, "/log/" + tile_path(TileId(0, 1, 4)))
        assert partial.status == 200 and len(partial.body) == 4 * 32
        assert all("immutable" not in v for _n, v in partial.headers)
        bundle = _get(handler, "/log/" + entries_path(1, 4))
        assert decode_entry_bundle(bundle.body) == [
            s.header_bytes + s.header_signature for s in sent[256:260]
        ]
        # Beyond the published size 260: 404, though the store holds 265 entries.
        for beyond in (
            tile_path(TileId(0, 1, 5)),
            entries_path(1, 5),
            tile_path(TileId(0, 1)),
            tile_path(TileId(1, 0, 2)),
        ):
            assert _get(handler, "/log/" + beyond).status == 404, beyond
        assert _get(handler, "/log/" + tile_path(TileId(1, 0, 1))).status == 200
        for bad in ("tile/0/001", "tile/0/0.p/256", "tile/x/0", "nothing", "tile/0/1.p/0"):
            assert _get(handler, "/log/" + bad).status == 404, bad
        assert handler(HttpRequest("POST", "/log/checkpoint")).status == 405


def test_a_tiles_client_proves_inclusion_over_real_http(tmp_path: Path) -> None:
    signer = log_signer()
    path = tmp_path / "v.sqlite"
    with store_at(path) as store:
        sent = accept(store, [GatewayChain("gw-a")], 300)
        sequencer(store, signer).step()
        with serve(make_log_handler(read_only(path))) as url:
            with urllib.request.urlopen(f"{url}/log/checkpoint") as r:
                checkpoint, _ = open_checkpoint(
                    r.read(), NoteVerifier.from_vkey(signer.verifier_key())
                )

            def read_tile(t: TileId) -> bytes:
                with urllib.request.urlopen(f"{url}/log/{tile_path(t)}") as r:
                    return r.read()

            reader = TileHashReader(checkpoint.size, read_tile)
            for index in (0, 137, 255, 256, 299):
                entry = sent[index].header_bytes + sent[index].header_signature
                proof = reader.inclusion_proof(index)
                assert native.verify_inclusion(
                    entry, index, checkpoint.size, proof, checkpoint.root_hash
                )
            try:
                urllib.request.urlopen(f"{url}/log/{tile_path(TileId(0, 2))}")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
            else:
                raise AssertionError("a tile beyond the checkpoint was served")


def test_an_unreachable_tsa_is_counted_and_its_anchor_made_later(tmp_path: Path) -> None:
    """Accepting and publishing go on while the TSA is down; the missing anchor is made
    by a later attempt (here after the operator fixed the TSA's URL and restarted)."""
    signer = log_signer()
    metrics = LogMetrics(PrivateMetrics("test"))
    closed = f"http://127.0.0.1:{free_port()}/"
    with store_at(tmp_path / "v.sqlite") as store:
        accept(store, [GatewayChain()], 4)
        config = log_config(interval_s=0.05)
        down = sequencer(store, signer, config, anchors=[TsaAnchor(closed)], metrics=metrics)
        done = down.step()
        assert done is not None and done.published and done.pending == "anchors"
        assert metrics.anchor_failures.labels("rfc3161")._value.get() == 1
        assert store.log.latest_checkpoint() is not None  # published all the same
        with LocalTsa() as tsa:
            up = sequencer(store, signer, config, anchors=[TsaAnchor(tsa.url)])
            time.sleep(0.06)  # retried one interval after the last attempt
            again = up.step()
        assert again is not None and again.size == 4 and again.pending == ""
        latest = store.log.latest_checkpoint()
        assert latest is not None and [e["kind"] for e in latest.evidence] == ["rfc3161"]


def test_the_handler_without_a_store_answers_503_not_a_traceback(tmp_path: Path) -> None:
    handler = make_log_handler(read_only(tmp_path / "not-yet.sqlite"))
    got = _get(handler, "/log/checkpoint")
    assert got.status == 503 and b"try again" in got.body
