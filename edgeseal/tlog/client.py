"""Reading a tiled log over HTTP (C2SP tlog-tiles): checkpoint, tiles, entry bundles.

Every answer is size-checked before it is used: a tile must hold exactly ``width``
hashes, a bundle exactly ``width`` entries, and nothing larger than the resource can be
is read. When a partial tile or bundle is gone, the full one is fetched instead and its
first ``width`` items used (tlog-tiles "Partial Tiles" lets logs delete partial tiles
once the full tile exists, and lets clients fall back to it).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
import zlib

from edgeseal.tlog.tile_paths import (
    HASH_LEN,
    MAX_ENTRY_LEN,
    TILE_WIDTH,
    TileId,
    decode_entry_bundle,
    entries_path,
    tile_path,
)

MAX_CHECKPOINT = 1024 * 1024  # 16 post-quantum signatures fit many times over
MAX_BUNDLE = TILE_WIDTH * (2 + MAX_ENTRY_LEN)


class TileFetchError(OSError):
    """A resource of the log could not be fetched, or is not what it must be."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def missing(self) -> bool:
        return self.status == 404


class TileClient:
    """Fetches the resources of the log at ``base_url`` (its tlog-tiles prefix)."""

    def __init__(self, base_url: str, timeout_s: float = 10) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"log URL {base_url!r} must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, limit: int) -> bytes:
        url = f"{self.base_url}/{path}"
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, identity"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                data = resp.read(limit + 1)
                encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise TileFetchError(f"{url}: HTTP {exc.code} {exc.reason}", status=exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TileFetchError(f"{url}: cannot fetch: {reason}") from None
        if encoding == "gzip":
            data = _gunzip(data, limit, url)
        elif encoding != "identity":
            raise TileFetchError(f"{url}: unsupported Content-Encoding {encoding!r}")
        if len(data) > limit:
            raise TileFetchError(f"{url}: more than {limit} bytes; not a resource of a log")
        return bytes(data)

    def checkpoint(self) -> bytes:
        """The signed checkpoint note, unverified (see ``open_checkpoint``)."""
        return self._get("checkpoint", MAX_CHECKPOINT)

    def tile(self, t: TileId) -> bytes:
        """The tile's ``t.width`` hashes (falling back to the full tile for a partial one)."""
        try:
            data = self._get(tile_path(t), t.width * HASH_LEN)
        except TileFetchError as exc:
            if not (exc.missing and t.partial):
                raise
            full = TileId(t.level, t.index)
            data = self._get(tile_path(full), TILE_WIDTH * HASH_LEN)[: t.width * HASH_LEN]
        if len(data) != t.width * HASH_LEN:
            raise TileFetchError(
                f"{self.base_url}/{tile_path(t)}: {len(data)} bytes, "
                f"not the {t.width * HASH_LEN} of {t.width} hashes"
            )
        return data

    def entries(self, index: int, width: int) -> list[bytes]:
        """The ``width`` entries of bundle ``index`` (falling back to the full bundle)."""
        path = entries_path(index, width)
        try:
            data = self._get(path, MAX_BUNDLE)
        except TileFetchError as exc:
            if not (exc.missing and width < TILE_WIDTH):
                raise
            data = self._get(entries_path(index), MAX_BUNDLE)
            entries = self._decode(entries_path(index), data)
            if len(entries) < width:
                raise TileFetchError(
                    f"{self.base_url}/{entries_path(index)}: {len(entries)} entries, "
                    f"fewer than the {width} needed"
                ) from None
            return entries[:width]
        entries = self._decode(path, data)
        if len(entries) != width:
            raise TileFetchError(
                f"{self.base_url}/{path}: {len(entries)} entries, not {width}", status=None
            )
        return entries

    def _decode(self, path: str, data: bytes) -> list[bytes]:
        try:
            return decode_entry_bundle(data)
        except ValueError as exc:
            raise TileFetchError(f"{self.base_url}/{path}: not an entry bundle: {exc}") from None


def _gunzip(data: bytes, limit: int, url: str) -> bytes:
    # Bounded: a small compressed answer must not expand into gigabytes.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise TileFetchError(f"{url}: bad gzip body: {exc}") from None
    return out
