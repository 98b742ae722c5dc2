"""C2SP tlog-tiles: paths, bundles, and tiles built incrementally against edgeseal.native.merkle.

Every root and proof read from tiles is compared with the native RFC 9162 functions over
the same leaves, so the tiles agree with the tree and not merely with themselves.
"""

from __future__ import annotations

import pytest

from edgeseal.native.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
)
from edgeseal.tlog.tile_tree import parents
from edgeseal.tlog.tiles import (
    EMPTY_ROOT,
    TileError,
    TileHashReader,
    TileId,
    TileIntegrator,
    consistency_proof_from_tiles,
    decode_entry_bundle,
    encode_entry_bundle,
    entries_path,
    inclusion_proof_from_tiles,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)


class TiledLog:
    """Leaves appended in steps; the tile store keeps every tile ever written."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.store: dict[TileId, bytes] = {}
        self.reads: list[TileId] = []

    def read(self, t: TileId) -> bytes:
        self.reads.append(t)
        return self.store[t]

    def append(self, count: int) -> bytes:
        new = [f"leaf {len(self.leaves) + i}".encode() for i in range(count)]
        tiles, root = TileIntegrator().integrate(
            len(self.leaves), [leaf_hash(x) for x in new], self.read
        )
        self.store.update(tiles)
        self.leaves += new
        return root


def test_spec_path_examples() -> None:
    # c2sp.org/tlog-tiles "Merkle Tree": index 1234067 is x001/x234/067.
    assert tile_path(TileId(0, 1234067)) == "tile/0/x001/x234/067"
    assert tile_path(TileId(1, 0)) == "tile/1/000"
    assert tile_path(TileId(2, 1000, 7)) == "tile/2/x001/000.p/7"
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(5, 255) == "tile/entries/005.p/255"
    assert parse_tile_path("tile/0/x001/x234/067") == TileId(0, 1234067)
    assert parse_tile_path("/tile/3/999.p/1") == TileId(3, 999, 1)
    assert parse_tile_path("tile/entries/x001/000.p/12") == ("entries", 1000, 12)


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 999999, 1000000, 123456789012, 2**55])
def test_paths_round_trip(n: int) -> None:
    for width in (1, 100, 255, 256):
        assert parse_tile_path(tile_path(TileId(5, n, width))) == TileId(5, n, width)
        assert parse_tile_path(entries_path(n, width)) == ("entries", n, width)


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/1",  # not three digits
        "tile/0/0001",
        "tile/0/x000/001",  # leading zero group
        "tile/0/001/002",  # missing x
        "tile/0/x001",  # x on the last element
        "tile/00/001",  # level with a leading zero
        "tile/64/001",  # level above 63
        "tile/-1/001",
        "tile/0/001.p/0",  # empty partial tile
        "tile/0/001.p/256",  # a "partial" full tile
        "tile/0/001.p/07",
        "tile/0/001.p/",
        "tile/0/0a1",
        "tile/0/\u0661\u0662\u0663",  # non-ASCII digits
        "tile/entries",
        "tiles/0/001",
        "tile/0/",
        "tile/0/001/",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",  # beyond any tree
    ],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        parse_tile_path(path)


def test_tiles_for_size_spec_examples() -> None:
    # c2sp.org/tlog-tiles "Partial Tiles": a tree of 70,000 has 273 full level-0 tiles,
    # a partial one of width 112, one full level-1 tile, a partial one of width 17, and
    # a partial level-2 tile of width 1. A tree of 256: one full tile, level 1 width 1.
    tiles = tiles_for_size(70000)
    assert [t for t in tiles if t.level == 0 and t.partial] == [TileId(0, 273, 112)]
    assert sum(1 for t in tiles if t.level == 0 and not t.partial) == 273
    assert [t for t in tiles if t.level > 0] == [TileId(1, 0), TileId(1, 1, 17), TileId(2, 0, 1)]
    assert tiles_for_size(256) == [TileId(0, 0), TileId(1, 0, 1)]
    assert tiles_for_size(0) == []


def test_entry_bundles() -> None:
    entries = [b"", b"a", b"x" * 65535]
    data = encode_entry_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_entry_bundle(data) == entries
    with pytest.raises(ValueError):
        encode_entry_bundle([b"x" * 65536])
    with pytest.raises(ValueError, match="claims"):
        decode_entry_bundle(data[:-1])
    with pytest.raises(ValueError, match="inside the length"):
        decode_entry_bundle(b"\x00\x01a\x00")


def test_every_size_from_0_to_600_one_leaf_at_a_time() -> None:
    log = TiledLog()
    assert TileIntegrator().integrate(0, [], log.read) == ({}, EMPTY_ROOT)
    for size in range(1, 601):
        root = log.append(1)
        assert root == merkle_root(log.leaves), size
        assert TileHashReader(size, log.read).root() == root


def test_appending_in_odd_steps_rewrites_partial_tiles() -> None:
    log = TiledLog()
    sizes = []
    for step in (3, 250, 3, 1, 255, 256, 1, 600, 255, 257, 5000):
        root = log.append(step)
        sizes.append(len(log.leaves))
        assert root == merkle_root(log.leaves)
    # Every tile of every checkpointed size is in the store, full and partial.
    for size in sizes:
        assert set(tiles_for_size(size)) <= set(log.store)
    # Proofs from tiles equal the native ones, for every checkpointed size.
    for size in sizes:
        step = max(1, size // 37)
        for index in range(0, size, step):
            got = inclusion_proof_from_tiles(index, size, log.read)
            assert got == inclusion_proof(log.leaves[:size], index), (index, size)
        for old in [*range(0, size + 1, step), size - 1, size]:
            got = consistency_proof_from_tiles(old, size, log.read)
            assert got == consistency_proof(log.leaves[:size], old), (old, size)


def test_integrate_reads_only_the_partial_tiles_it_extends() -> None:
    log = TiledLog()
    log.append(700)
    log.reads.clear()
    tiles, _root = TileIntegrator().integrate(
        700, [leaf_hash(b"x")], lambda t: log.read(t) if t.partial else b""
    )
    # Level 0: tile 2 grows from 188 to 189 hashes; level 1 is untouched (no tile filled).
    assert set(tiles) == {TileId(0, 2, 189)}
    assert TileId(0, 2, 188) in log.reads


@pytest.mark.parametrize(
    ("old", "new"), [(65535, 65537), (65280, 65536), (65536, 65536 + 256 * 3 + 1)]
)
def test_crossing_the_level_2_boundary(old: int, new: int) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(new)]
    hashes = [leaf_hash(x) for x in leaves]
    store: dict[TileId, bytes] = {}
    tiles, root = TileIntegrator().integrate(0, hashes[:old], store.__getitem__)
    store.update(tiles)
    assert root == merkle_root(leaves[:old])
    tiles, root = TileIntegrator().integrate(old, hashes[old:], store.__getitem__)
    store.update(tiles)
    assert root == merkle_root(leaves)
    assert set(tiles_for_size(new)) <= set(store)
    for index in (0, old - 1, new - 1, 65535):
        if index < new:
            assert inclusion_proof_from_tiles(index, new, store.__getitem__) == inclusion_proof(
                leaves, index
            )
    for m in (1, old - 1, old, 65536 if new >= 65536 else old):
        assert consistency_proof_from_tiles(m, new, store.__getitem__) == consistency_proof(
            leaves, m
        )


def test_wrong_tiles_and_ranges_are_reported() -> None:
    log = TiledLog()
    log.append(10)
    short = {TileId(0, 0, 10): log.store[TileId(0, 0, 10)][:-1]}
    with pytest.raises(TileError, match="has 319 bytes"):
        TileHashReader(10, short.__getitem__).root()
    with pytest.raises(TileError, match="not in a tree"):
        inclusion_proof_from_tiles(10, 10, log.read)
    with pytest.raises(TileError):
        consistency_proof_from_tiles(11, 10, log.read)
    with pytest.raises(TileError, match="not 32"):
        TileIntegrator().integrate(10, [b"short"], log.read)


def test_one_reader_serves_many_proofs() -> None:
    log = TiledLog()
    log.append(777)
    reader = TileHashReader(777, log.read)
    for index in range(777):
        assert reader.inclusion_proof(index) == inclusion_proof(log.leaves, index), index
    reads = len(log.reads)
    for old in range(778):
        assert reader.consistency_proof(old) == consistency_proof(log.leaves, old), old
    assert len(log.reads) == reads  # every tile came from the reader's cache


def test_batched_node_hashes_are_rfc9162_node_hashes() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(7)]
    assert parents(hashes) == [node_hash(hashes[i], hashes[i + 1]) for i in (0, 2, 4)]
    assert parents(hashes[:1]) == []
