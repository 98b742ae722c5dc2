"""The transparency log over HTTP as C2SP tlog-tiles, under ``/log/``.

``/log/checkpoint`` is the newest published checkpoint (the signed note with its
cosignatures); ``/log/tile/<L>/<N>[.p/<W>]`` the hash tiles and
``/log/tile/entries/<N>[.p/<W>]`` the entry bundles of the tree that checkpoint names.
Anything beyond it is 404, so a client never sees tiles its checkpoint does not commit
to. Full tiles and bundles never change: they are served with an immutable cache
header, so a plain HTTP cache (or a copy on a static file server) can serve them. The
store stays the source of truth: every response is read from it, in one read
transaction so the checkpoint and the tiles match.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from edgeseal.tlog.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    encode_entry_bundle,
    parse_tile_path,
)
from edgeseal.verifier.http_types import Handler, HttpRequest, HttpResponse, text_response
from edgeseal.verifier.log_store import LogStore
from edgeseal.verifier.store_postgres import connect_read_only, is_postgres_url

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
IMMUTABLE = ("Cache-Control", "public, max-age=31536000, immutable")
# A partial tile is replaced by a wider one as the log grows; the checkpoint moves on.
SHORT_LIVED = ("Cache-Control", "no-cache")


def width_at(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) has in a tree of ``size`` leaves (0: none)."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


def read_only(path: Path | str) -> Callable[[], sqlite3.Connection]:
    """Opens a read-only connection to the store, one per request (threads share none);
    ``path``: the SQLite file or a PostgreSQL URL."""
    if isinstance(path, str) and is_postgres_url(path):
        url = path
        return lambda: connect_read_only(url)

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    return connect


def _serve(log_store: LogStore, rest: str, head: bool) -> HttpResponse:
    checkpoint = log_store.latest_checkpoint()
    if rest == "checkpoint":
        if checkpoint is None:
            return text_response(404, "the log has no published checkpoint yet")
        return HttpResponse(200, checkpoint.best_note, CHECKPOINT_TYPE, (SHORT_LIVED,))
    try:
        named = parse_tile_path(rest)
    except ValueError as exc:
        return text_response(404, f"not a tile of this log: {exc}")
    size = checkpoint.size if checkpoint is not None else 0
    if isinstance(named, TileId):
        level, index, width = named.level, named.index, named.width
    else:
        level, index, width = 0, named[1], named[2]
    have = width_at(size, level, index)
    if width > have:
        return text_response(
            404, f"{rest} is beyond the published checkpoint (size {size}); fetch it again later"
        )
    cache = IMMUTABLE if width == TILE_WIDTH else SHORT_LIVED
    if isinstance(named, TileId):
        data = log_store.tile(level, index)
        if data is None or len(data) < 32 * width:
            log.error("tile %s is missing from the store though checkpoint %d needs it", rest, size)
            return text_response(500, f"tile {rest} is missing from the store")
        body = data[: 32 * width]
    else:
        start = index * TILE_WIDTH
        body = encode_entry_bundle(log_store.entries(start, start + width))
    return HttpResponse(200, b"" if head else body, TILE_TYPE, (cache,))


def make_log_handler(
    connect: Callable[[], sqlite3.Connection], *, prefix: str = "/log/"
) -> Handler:
    """A Handler serving the log under ``prefix``; ``connect`` opens a store connection
    for one request (``read_only(store_path)``), closed after it."""

    def handle(request: HttpRequest) -> HttpResponse | None:
        if not request.path.startswith(prefix):
            return None
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(
                405, b"the log is read-only: use GET\n", headers=(("Allow", "GET, HEAD"),)
            )
        try:
            conn = connect()
        except sqlite3.Error as exc:
            log.error("cannot read the log from the store: %s", exc)
            return text_response(503, "the log's store cannot be read now; try again later")
        try:
            conn.execute("BEGIN")  # one snapshot: the checkpoint and its tiles agree
            return _serve(LogStore(conn), request.path[len(prefix) :], request.method == "HEAD")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return text_response(404, "this store has no transparency log yet")
            raise
        finally:
            conn.close()

    return handle
