"""The tlog-witness ``add-checkpoint`` exchange (c2sp.org/tlog-witness, "add-checkpoint").

Request body: ``old <size>\\n``, zero to 63 base64 consistency-proof lines, an empty
line, then the signed checkpoint note. A 200 answer is one or more note signature lines;
a 409 answer is the witness's current size in decimal and a newline, with
``Content-Type: text/x.tlog.size``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

ADD_CHECKPOINT = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
HASH_LEN = 32
MAX_SIZE = 2**63 - 1


class MalformedRequest(ValueError):
    """The request body is not an add-checkpoint request (answered with 400)."""


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


def parse_decimal(text: str, what: str) -> int:
    """A decimal with no leading zeros ("0" for zero), at most 2^63 - 1."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise MalformedRequest(f"{what} {text[:30]!r} is not a decimal without leading zeros")
    if len(text) > 19 or int(text) > MAX_SIZE:
        raise MalformedRequest(f"{what} {text[:30]!r} is larger than 2^63 - 1")
    return int(text)


def encode_add_checkpoint(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    if not 0 <= old_size <= MAX_SIZE:
        raise ValueError(f"old size {old_size} is outside [0, 2^63 - 1]")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n".encode()]
    for h in proof:
        if len(h) != HASH_LEN:
            raise ValueError(f"proof hash has {len(h)} bytes, not {HASH_LEN}")
        lines.append(base64.b64encode(h) + b"\n")
    return b"".join(lines) + b"\n" + note


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Split a request body; the note itself is parsed by the caller."""
    pos = 0
    lines: list[bytes] = []
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            raise MalformedRequest("no empty line between the proof and the checkpoint")
        line = body[pos:end]
        pos = end + 1
        if not line:
            break
        lines.append(line)
        if len(lines) > 1 + MAX_PROOF_LINES:
            raise MalformedRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    if not lines:
        raise MalformedRequest("the request does not start with an 'old <size>' line")
    head = lines[0].decode("ascii", "replace")
    if not head.startswith("old "):
        raise MalformedRequest(f"the first line must be 'old <size>', not {head[:40]!r}")
    old_size = parse_decimal(head[4:], "old size")
    proof = []
    for i, line in enumerate(lines[1:]):
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise MalformedRequest(f"proof line {i + 1} is not base64") from None
        if len(h) != HASH_LEN or base64.b64encode(h) != line:
            raise MalformedRequest(f"proof line {i + 1} is not the base64 of a 32-byte hash")
        proof.append(h)
    return AddCheckpoint(old_size, tuple(proof), body[pos:])
