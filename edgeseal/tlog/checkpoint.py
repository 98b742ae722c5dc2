"""C2SP tlog-checkpoint: a log's tree head as the text of a signed note.

The text is the origin, the tree size (decimal, no leading zeros) and the base64 RFC 9162
root hash, one per line, then optional non-empty extension lines (tlog-checkpoint
"Note text"). The log signs it as a signed note (see :mod:`edgeseal.tlog.note`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from edgeseal.tlog.note import (
    Note,
    NoteError,
    NoteVerifier,
    SignatureError,
    b64decode_strict,
    parse_note,
    signed_by_problem,
)

HASH_LEN = 32
MAX_TREE_SIZE = 2**63 - 1  # sizes travel as u64 in proofs and cosignatures; keep a margin


class CheckpointError(NoteError):
    """The note text is not a well-formed checkpoint."""


def parse_size(text: str, what: str) -> int:
    """A decimal size with no leading zeros ("0" for zero), at most 2^63 - 1."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise CheckpointError(f"{what} {text[:30]!r} is not a decimal number without leading zeros")
    if len(text) > 19 or int(text) > MAX_TREE_SIZE:
        raise CheckpointError(f"{what} {text[:30]!r} is larger than 2^63 - 1")
    return int(text)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "the origin")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} is outside [0, 2^63 - 1]")
        if len(self.root_hash) != HASH_LEN:
            raise CheckpointError(f"a root hash has 32 bytes, not {len(self.root_hash)}")
        for ext in self.extensions:
            _check_line(ext, "an extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extensions; each line ends in "\\n"."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )


def _check_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointError(f"{what} must not be empty")
    if any(c < " " for c in line):
        raise CheckpointError(f"{what} contains a newline or control character")


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note text (tlog-checkpoint "Note text")."""
    if not text.endswith("\n"):
        raise CheckpointError("a checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has at least three lines: origin, size, root hash")
    origin, size_text, root_text, *extensions = lines
    size = parse_size(size_text, "tree size")
    root = b64decode_strict(root_text, "root hash")
    if len(root) != HASH_LEN:
        raise CheckpointError(f"the root hash has {len(root)} bytes, not 32")
    return Checkpoint(origin, size, root, tuple(extensions))


def open_checkpoint(note_bytes: bytes, log_verifier: NoteVerifier) -> tuple[Checkpoint, Note]:
    """Parse a signed checkpoint and require a valid signature by the log's key.

    Raises :class:`NoteError` if the note is malformed, :class:`CheckpointError` if its
    text is not a checkpoint, :class:`SignatureError` if the log's signature is missing
    or does not verify.
    """
    note = parse_note(note_bytes)
    problem = signed_by_problem(note, log_verifier)
    if problem is not None:
        raise SignatureError(f"checkpoint refused: {problem}")
    return parse_checkpoint(note.text), note
