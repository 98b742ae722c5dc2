"""The RFC 9162 tree seen through tlog-tiles: building tiles, reading hashes, proofs.

Heights here are tree heights: the hash at (height h, index i) is
``MTH(D[i * 2^h : (i + 1) * 2^h])``. Tile level L stores the hashes of height 8*L; a hash
of height 8*L + k is rebuilt from 2^k adjacent hashes of one tile (tlog-tiles "Merkle
Tree"). Nothing here does I/O: tiles come in through a ``read_tile`` callable and go out
as a dict, so the verifier's store, a static file tree or an HTTP client can sit behind.

Proofs follow RFC 9162 section 2.1.3.1 (PATH) and 2.1.4.1 (PROOF/SUBPROOF), with every
subtree hash read from tiles instead of recomputed from leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from edgeseal.native.hashing import sha256_many
from edgeseal.native.merkle import node_hash
from edgeseal.tlog.tile_paths import HASH_LEN, TILE_HEIGHT, TILE_WIDTH, TileId

ReadTile = Callable[[TileId], bytes]
EMPTY_ROOT = hashlib.sha256(b"").digest()


class TileError(ValueError):
    """A tile has the wrong size, or a hash outside the tree was asked for."""


def parents(hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 node hashes SHA-256(0x01 || left || right) of each pair (a last odd one is left out).

    One native call for the whole level: the same hash as ``native.merkle.node_hash``, a
    few times faster than one call per node when a tile's 255 inner nodes are needed.
    """
    return sha256_many([b"\x01" + hashes[i] + hashes[i + 1] for i in range(0, len(hashes) - 1, 2)])


def _reduce(hashes: list[bytes]) -> bytes:
    """Root of a perfect tree whose leaves are ``hashes`` (a power of two of them)."""
    while len(hashes) > 1:
        hashes = parents(hashes)
    return hashes[0]


def _split(data: bytes, width: int, t: TileId) -> list[bytes]:
    if len(data) != width * HASH_LEN:
        raise TileError(
            f"tile {t.level}/{t.index} (width {width}) has {len(data)} bytes, "
            f"expected {width * HASH_LEN}"
        )
    return [data[i : i + HASH_LEN] for i in range(0, len(data), HASH_LEN)]


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class TileHashReader:
    """Hashes of the tree of ``size`` leaves, read from its tiles.

    Each tile is read once and every hash computed between tile levels is kept: reuse one
    reader for many proofs against the same tree size (a fresh reader per proof pays for
    up to 247 node hashes per tile level again).
    """

    def __init__(self, size: int, read_tile: ReadTile) -> None:
        if size < 0:
            raise TileError(f"tree size {size} is negative")
        self.size = size
        self._read_tile = read_tile
        # Per tile: its hashes, then each level of inner nodes computed so far.
        self._levels: dict[TileId, list[list[bytes]]] = {}

    def tile_for(self, level: int, position: int) -> TileId:
        """The tile of this tree (full or partial) holding hash ``position`` of tile ``level``."""
        count = self.size >> (TILE_HEIGHT * level)
        index = position // TILE_WIDTH
        if position >= count:
            raise TileError(
                f"hash {position} of tile level {level} is not in a tree of {self.size}"
            )
        width = min(TILE_WIDTH, count - index * TILE_WIDTH)
        return TileId(level, index, width)

    def _tile_level(self, t: TileId, height: int) -> list[bytes]:
        """The complete subtree hashes of ``height`` (0..7) inside tile ``t``."""
        levels = self._levels.get(t)
        if levels is None:
            levels = [_split(self._read_tile(t), t.width, t)]
            self._levels[t] = levels
        while len(levels) <= height:
            levels.append(parents(levels[-1]))
        return levels[height]

    def hash_at(self, level: int, index: int) -> bytes:
        """MTH of the ``2^level`` leaves starting at ``index * 2^level`` (all inside the tree)."""
        if level < 0 or index < 0 or (index + 1) << level > self.size:
            raise TileError(
                f"the subtree at height {level}, index {index} is not complete "
                f"in a tree of {self.size} leaves"
            )
        return self._hash(level, index)

    def _hash(self, level: int, index: int) -> bytes:
        # Heights that tiles store are read; the seven in between are hashed from them
        # a whole tile level at a time and kept, so proofs sharing a reader share the work.
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub
        t = self.tile_for(tile_level, first + (1 << sub) - 1)
        return self._tile_level(t, sub)[index - (t.index * TILE_WIDTH >> sub)]

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges proofs use: perfect, or ending at the tree's size."""
        n = end - start
        if n <= 0 or end > self.size:
            raise TileError(f"range [{start}, {end}) is not inside a tree of {self.size} leaves")
        if n & (n - 1) == 0 and start % n == 0:
            return self.hash_at(n.bit_length() - 1, start // n)
        k = _largest_power_of_two_below(n)
        return node_hash(self.subtree_hash(start, start + k), self.subtree_hash(start + k, end))

    def root(self) -> bytes:
        """The RFC 9162 tree head of ``size`` leaves (SHA-256("") when empty)."""
        if self.size == 0:
            return EMPTY_ROOT
        return self.subtree_hash(0, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 2.1.3.1 PATH(index, D[0:size]), leaf's sibling first."""
        if not 0 <= index < self.size:
            raise TileError(f"index {index} is not in a tree of {self.size} leaves")
        proof: list[bytes] = []
        start, end = 0, self.size
        while end - start > 1:
            k = _largest_power_of_two_below(end - start)
            if index < start + k:
                proof.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree_hash(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 2.1.4.1 PROOF(old_size, D[0:size]); empty for 0 and for size itself."""
        if not 0 <= old_size <= self.size:
            raise TileError(f"old size {old_size} is not in [0, {self.size}]")
        if old_size in (0, self.size):
            return []
        proof: list[bytes] = []
        start, end, whole = 0, self.size, True
        while old_size != end:
            k = _largest_power_of_two_below(end - start)
            if old_size - start <= k:
                proof.append(self.subtree_hash(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree_hash(start, start + k))
                start += k
                whole = False
        if not whole:
            proof.append(self.subtree_hash(start, end))
        proof.reverse()
        return proof


def inclusion_proof_from_tiles(index: int, size: int, read_tile: ReadTile) -> list[bytes]:
    return TileHashReader(size, read_tile).inclusion_proof(index)


def consistency_proof_from_tiles(old_size: int, new_size: int, read_tile: ReadTile) -> list[bytes]:
    return TileHashReader(new_size, read_tile).consistency_proof(old_size)


class TileIntegrator:
    """Appends leaf hashes to a tiled tree: which tiles change, and the new root.

    Pure logic: the old tree's partial tiles (and, for the root, a few full ones) are
    read through ``read_tile``; nothing is written. Appending to a partial tile rewrites
    it at its new width; every tile that fills up is hashed into the level above.
    """

    def integrate(
        self, old_size: int, new_leaf_hashes: Sequence[bytes], read_tile: ReadTile
    ) -> tuple[dict[TileId, bytes], bytes]:
        if old_size < 0:
            raise TileError(f"tree size {old_size} is negative")
        for i, h in enumerate(new_leaf_hashes):
            if len(h) != HASH_LEN:
                raise TileError(f"new leaf hash {i} has {len(h)} bytes, not {HASH_LEN}")
        new_size = old_size + len(new_leaf_hashes)
        out: dict[TileId, bytes] = {}
        fresh = list(new_leaf_hashes)  # new hashes at the current tile level
        level = 0
        while fresh:
            old_count = old_size >> (TILE_HEIGHT * level)
            fresh = self._level(level, old_count, fresh, read_tile, out)
            level += 1

        return out, TileHashReader(new_size, overlay(out, read_tile)).root()

    @staticmethod
    def _level(
        level: int,
        old_count: int,
        fresh: list[bytes],
        read_tile: ReadTile,
        out: dict[TileId, bytes],
    ) -> list[bytes]:
        """Write this level's changed tiles; return the hashes of the tiles that filled up."""
        first_tile, kept = divmod(old_count, TILE_WIDTH)
        carried: list[bytes] = []
        if kept:
            old = TileId(level, first_tile, kept)
            carried = _split(read_tile(old), kept, old)
        hashes = carried + fresh
        filled: list[bytes] = []
        for offset in range(0, len(hashes), TILE_WIDTH):
            chunk = hashes[offset : offset + TILE_WIDTH]
            t = TileId(level, first_tile + offset // TILE_WIDTH, len(chunk))
            out[t] = b"".join(chunk)
            if len(chunk) == TILE_WIDTH:
                filled.append(_reduce(chunk))
        return filled


def overlay(tiles: Mapping[TileId, bytes], read_tile: ReadTile) -> ReadTile:
    """A reader that sees ``tiles`` first, then ``read_tile`` (e.g. not yet written tiles)."""

    def read(t: TileId) -> bytes:
        got = tiles.get(t)
        return got if got is not None else read_tile(t)

    return read
