"""C2SP tlog-tiles: paths, entry bundles, and the tree built and read through tiles.

One import for users of the tiles API; the pieces live in :mod:`edgeseal.tlog.tile_paths`
(resources and their names) and :mod:`edgeseal.tlog.tile_tree` (hashes and proofs).
"""

from __future__ import annotations

from edgeseal.tlog.tile_paths import (
    HASH_LEN,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_index,
    entries_path,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from edgeseal.tlog.tile_tree import (
    EMPTY_ROOT,
    ReadTile,
    TileError,
    TileHashReader,
    TileIntegrator,
    consistency_proof_from_tiles,
    inclusion_proof_from_tiles,
    overlay,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_LEN",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "ReadTile",
    "TileError",
    "TileHashReader",
    "TileId",
    "TileIntegrator",
    "consistency_proof_from_tiles",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "encode_index",
    "entries_path",
    "inclusion_proof_from_tiles",
    "overlay",
    "parse_tile_path",
    "tile_path",
    "tiles_for_size",
]
