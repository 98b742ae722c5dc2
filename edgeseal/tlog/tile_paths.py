"""C2SP tlog-tiles resources: tile identities, their paths, and entry bundles.

A tile at level L and index N holds up to 256 consecutive hashes of subtrees of height
8*L; a partial tile (width 1..255) is the right edge of the tree (tlog-tiles "Merkle
Tree" and "Partial Tiles"). Paths are ``tile/<L>/<N>[.p/<W>]`` with N written as 3-digit
groups, all but the last prefixed with "x"; entry bundles are ``tile/entries/<N>[.p/<W>]``
and hold uint16 big-endian length-prefixed entries (tlog-tiles "Log entries").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TILE_WIDTH = 256
TILE_HEIGHT = 8  # log2(TILE_WIDTH)
HASH_LEN = 32
MAX_LEVEL = 63
MAX_ENTRY_LEN = 0xFFFF
# Tile indices beyond this cannot belong to a tree of at most 2^63 - 1 leaves.
MAX_INDEX = 2**63 // TILE_WIDTH


@dataclass(frozen=True, order=True)
class TileId:
    """Tile ``index`` at ``level``, ``width`` hashes wide (256: full; fewer: partial)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"tile level {self.level} is outside [0, {MAX_LEVEL}]")
        if not 0 <= self.index <= MAX_INDEX:
            raise ValueError(f"tile index {self.index} is out of range")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"tile width {self.width} is outside [1, {TILE_WIDTH}]")

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH


def encode_index(n: int) -> str:
    """tlog-tiles index encoding: 1234067 -> "x001/x234/067"."""
    if n < 0:
        raise ValueError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(t: TileId) -> str:
    return f"tile/{t.level}/{encode_index(t.index)}{_suffix(t.width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of the entry bundle ``index`` holding ``width`` entries (256: full)."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"bundle width {width} is outside [1, {TILE_WIDTH}]")
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"bundle index {index} is out of range")
    return f"tile/entries/{encode_index(index)}{_suffix(width)}"


def _decimal(text: str, what: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ValueError(f"{what} {text!r} is not a decimal number without leading zeros")
    if len(text) > 3 or not low <= int(text) <= high:
        raise ValueError(f"{what} {text!r} is outside [{low}, {high}]")
    return int(text)


def _parse_index(groups: Sequence[str]) -> int:
    if not groups:
        raise ValueError("the tile path has no index")
    value = 0
    for i, group in enumerate(groups):
        last = i == len(groups) - 1
        digits = group if last else group[1:]
        if (not last and not group.startswith("x")) or len(digits) != 3:
            raise ValueError(f"index element {group!r} is not {'ddd' if last else 'xddd'}")
        if not digits.isascii() or not digits.isdigit():
            raise ValueError(f"index element {group!r} is not decimal")
        value = value * 1000 + int(digits)
    if len(groups) > 1 and groups[0] == "x000":
        raise ValueError("the tile index has a leading zero group (not canonical)")
    if value > MAX_INDEX:
        raise ValueError("the tile index is out of range")
    return value


def parse_tile_path(path: str) -> TileId | tuple[str, int, int]:
    """The tile a path names, or ``("entries", index, width)`` for an entry bundle.

    One leading "/" is accepted (an HTTP request path); anything else that is not the
    canonical spelling of a tile raises ValueError.
    """
    parts = path.removeprefix("/").split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise ValueError(f"{path!r} is not a tile path (tile/<L>/<N> or tile/entries/<N>)")
    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = _decimal(rest[-1], "partial width", 1, TILE_WIDTH - 1)
        rest = [*rest[:-2], rest[-2][:-2]]
    index = _parse_index(rest)
    if parts[1] == "entries":
        return ("entries", index, width)
    level = _decimal(parts[1], "tile level", 0, MAX_LEVEL)
    return TileId(level, index, width)


def tiles_for_size(size: int) -> list[TileId]:
    """Every tile of a tree of ``size`` leaves: full ones, then each level's partial one."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    tiles: list[TileId] = []
    level = 0
    count = size  # hashes at this tile level: subtrees of height 8*level that are complete
    while count:
        full, rest = divmod(count, TILE_WIDTH)
        tiles.extend(TileId(level, i) for i in range(full))
        if rest:
            tiles.append(TileId(level, full, rest))
        level += 1
        count //= TILE_WIDTH
    return tiles


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_LEN:
            raise ValueError(
                f"entry {i} has {len(entry)} bytes; a bundle entry holds at most 65535"
            )
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise ValueError(f"entry bundle ends inside the length of entry {len(entries)}")
        n = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + n > len(data):
            raise ValueError(
                f"entry {len(entries)} claims {n} bytes but only {len(data) - pos} remain"
            )
        entries.append(bytes(data[pos : pos + n]))
        pos += n
    return entries
