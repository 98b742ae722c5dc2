"""Auditing a tiled log from the outside: every entry, every tile, against the checkpoint.

The auditor trusts only the log's public key. It fetches the checkpoint and checks the
log's signature, fetches every entry bundle the checkpoint's size implies, has the
caller check each entry (``check_entry``: for edgeseal, the gateway signature of a
batch header), rebuilds the tiles from the entries, compares the root with the
checkpoint's, and compares every tile the log serves with the rebuilt one, so a proof
served from a wrong tile is caught too. Problems are sentences an operator can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeseal.native.merkle import leaf_hash
from edgeseal.tlog.checkpoint import Checkpoint, open_checkpoint
from edgeseal.tlog.client import TileClient, TileFetchError
from edgeseal.tlog.note import NoteError, NoteVerifier
from edgeseal.tlog.tile_paths import (
    HASH_LEN,
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    entries_path,
    tile_path,
)
from edgeseal.tlog.tile_tree import EMPTY_ROOT, TileIntegrator

log = logging.getLogger(__name__)
MAX_PROBLEMS = 200


@dataclass
class AuditReport:
    checkpoint: Checkpoint | None
    problems: list[str] = field(default_factory=list)
    entries_checked: int = 0
    tiles_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.checkpoint is not None and not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... more problems left out")


def audit_log(
    client: TileClient,
    log_verifier: NoteVerifier,
    *,
    check_entry: Callable[[int, bytes], str | None],
) -> AuditReport:
    try:
        cp, _note = open_checkpoint(client.checkpoint(), log_verifier)
    except (TileFetchError, NoteError) as exc:
        return AuditReport(None, [f"checkpoint: {exc}"])
    report = AuditReport(cp)
    tiles: dict[TileId, bytes] = {}
    root = EMPTY_ROOT
    for start in range(0, cp.size, TILE_WIDTH):
        width = min(TILE_WIDTH, cp.size - start)
        try:
            entries = client.entries(start // TILE_WIDTH, width)
        except TileFetchError as exc:
            report.add(
                f"the checkpoint says the log holds {cp.size} entries, but only the first "
                f"{start} could be fetched ({entries_path(start // TILE_WIDTH, width)}: {exc}); "
                "the log is truncated or unavailable"
            )
            return report
        for offset, entry in enumerate(entries):
            problem = check_entry(start + offset, entry)
            if problem is not None:
                report.add(f"entry {start + offset}: {problem}")
        report.entries_checked += len(entries)
        new_tiles, root = TileIntegrator().integrate(
            start, [leaf_hash(e) for e in entries], tiles.__getitem__
        )
        tiles.update(new_tiles)
    if root != cp.root_hash:
        report.add(
            f"the {cp.size} entries rebuild the root {root.hex()}, but the checkpoint says "
            f"{cp.root_hash.hex()}: an entry was changed, or the checkpoint is not of these entries"
        )
    _compare_tiles(client, cp.size, tiles, report)
    log.info(
        "audited %s at size %d: %d entries, %d tiles, %d problem(s)",
        cp.origin,
        cp.size,
        report.entries_checked,
        report.tiles_checked,
        len(report.problems),
    )
    return report


def _compare_tiles(
    client: TileClient, size: int, tiles: dict[TileId, bytes], report: AuditReport
) -> None:
    """Every tile the log serves for ``size`` must be the one its entries produce."""
    for t, mine in sorted(tiles.items()):
        if t.width != min(TILE_WIDTH, (size >> (TILE_HEIGHT * t.level)) - t.index * TILE_WIDTH):
            continue  # an intermediate partial tile of the rebuild, not one of this size
        try:
            served = client.tile(t)
        except TileFetchError as exc:
            report.add(f"{tile_path(t)}: {exc}")
            continue
        report.tiles_checked += 1
        if served == mine:
            continue
        first = next(i for i in range(t.width) if _hash(served, i) != _hash(mine, i))
        span = TILE_WIDTH**t.level
        low = (t.index * TILE_WIDTH + first) * span
        what = f"entry {low}" if t.level == 0 else f"entries {low}..{low + span - 1}"
        report.add(
            f"{tile_path(t)}: hash {first} ({what}) is served as "
            f"{_hash(served, first).hex()}, but the entries give {_hash(mine, first).hex()}"
        )


def _hash(tile: bytes, i: int) -> bytes:
    return tile[i * HASH_LEN : (i + 1) * HASH_LEN]
