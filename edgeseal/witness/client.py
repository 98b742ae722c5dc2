"""Asking a witness for a cosignature: the log's side of tlog-witness ``add-checkpoint``.

The witness's cosignatures are returned as parsed note signatures, unverified: the caller
checks them with its configured :class:`~edgeseal.tlog.cosignature.CosignatureVerifier`
and ignores lines of keys it does not know (tlog-witness, the paragraph after the example
response). A refusal carries the HTTP status, the witness's reason and, for 409, the size
the witness has cosigned, so the log can send a proof from there.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from edgeseal.tlog.note import NoteError, NoteSignature, parse_signature_lines
from edgeseal.witness.protocol import (
    ADD_CHECKPOINT,
    SIZE_CONTENT_TYPE,
    MalformedRequest,
    encode_add_checkpoint,
    parse_decimal,
)

MAX_RESPONSE = 64 * 1024  # 16 post-quantum signature lines fit with room to spare


class WitnessRefused(Exception):
    """The witness answered, and did not cosign (``status`` is its HTTP status)."""

    def __init__(self, status: int, detail: str, old_size: int | None = None) -> None:
        self.status = status
        self.detail = detail
        self.old_size = old_size
        size = f" (the witness has size {old_size})" if old_size is not None else ""
        super().__init__(f"witness answered {status}: {detail}{size}")


class WitnessUnavailable(OSError):
    """The witness could not be reached, or its answer was not a usable one."""


def _endpoint(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"witness URL {url!r} must be an http:// or https:// URL")
    return url.rstrip("/") + ADD_CHECKPOINT


def _read_bounded(resp: http.client.HTTPResponse | urllib.error.HTTPError, url: str) -> bytes:
    data = resp.read(MAX_RESPONSE + 1)
    if len(data) > MAX_RESPONSE:
        raise WitnessUnavailable(f"witness {url} sent more than {MAX_RESPONSE} bytes")
    return bytes(data)


def request_cosignature(
    url: str, old_size: int, proof: Sequence[bytes], note: bytes, timeout_s: float
) -> list[NoteSignature]:
    """POST the checkpoint to the witness at submission prefix ``url``; its signature lines.

    Raises :class:`WitnessRefused` when the witness answers with an error status, and
    :class:`WitnessUnavailable` (an ``OSError``) when it cannot be reached or answers
    something that is not signature lines.
    """
    endpoint = _endpoint(url)
    body = encode_add_checkpoint(old_size, proof, note)
    request = urllib.request.Request(
        endpoint,
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            data = _read_bounded(resp, endpoint)
    except urllib.error.HTTPError as exc:
        with exc:
            data = _read_bounded(exc, endpoint)
            raise _refusal(exc.code, exc.headers.get("Content-Type", ""), data) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise WitnessUnavailable(f"witness {endpoint} unreachable: {reason}") from None
    try:
        return parse_signature_lines(data.decode("utf-8"))
    except (UnicodeDecodeError, NoteError) as exc:
        raise WitnessUnavailable(
            f"witness {endpoint} answered 200 without signature lines: {exc}"
        ) from None


def _refusal(status: int, content_type: str, data: bytes) -> WitnessRefused:
    text = data.decode("utf-8", "replace").strip()
    if status == 409 and content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
        try:
            size = parse_decimal(text, "witness size")
        except MalformedRequest:
            return WitnessRefused(status, f"conflict with an unreadable size {text[:40]!r}")
        return WitnessRefused(status, "the old size is not the size the witness cosigned", size)
    return WitnessRefused(status, text[:300] or "no reason given")
