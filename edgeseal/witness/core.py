"""The witness's decision for one ``add-checkpoint`` request, with the spec's status codes.

Order of the checks follows c2sp.org/tlog-witness "add-checkpoint": a malformed body is
400; an unknown origin 404; no valid signature of a trusted log key (or a failing one)
403; an old size above the checkpoint's 400; an old size other than the one last cosigned
409 (body: that size, ``text/x.tlog.size``); a non-empty proof from 0, a failing
consistency proof, a different root at the same size, or a size-0 checkpoint whose root is
not the empty tree's: 422. Only then is the checkpoint stored and cosigned, in the same
transaction as the check of the old size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from edgeseal.native.merkle import verify_consistency
from edgeseal.tlog.checkpoint import Checkpoint, parse_checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.tlog.note import Note, NoteError, NoteVerifier, add_signatures, parse_note
from edgeseal.tlog.tiles import EMPTY_ROOT
from edgeseal.witness.protocol import SIZE_CONTENT_TYPE, MalformedRequest, parse_add_checkpoint
from edgeseal.witness.state import Cosigned, WitnessState

log = logging.getLogger(__name__)
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = TEXT


def _refuse(status: int, reason: str) -> Response:
    return Response(status, (reason + "\n").encode("utf-8"))


class Witness:
    """Cosigns checkpoints of the configured logs; ``state`` remembers what it cosigned."""

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Mapping[str, Sequence[NoteVerifier]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self.state = state
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> Response:
        try:
            request = parse_add_checkpoint(body)
            note = parse_note(request.note)
            checkpoint = parse_checkpoint(note.text)
        except (MalformedRequest, NoteError) as exc:
            return _refuse(400, f"malformed request: {exc}")
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            return _refuse(404, f"unknown log origin {checkpoint.origin!r}")
        problem = _signature_problem(note, keys)
        if problem is not None:
            log.warning("refused a checkpoint of %s: %s", checkpoint.origin, problem)
            return _refuse(403, problem)
        if request.old_size > checkpoint.size:
            return _refuse(
                400, f"old size {request.old_size} is above the checkpoint's {checkpoint.size}"
            )
        if checkpoint.size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            return _refuse(422, "a checkpoint of size 0 must have the empty tree's root")
        if request.old_size == 0 and request.proof:
            return _refuse(422, "a consistency proof from size 0 must be empty")
        return self._check_and_cosign(checkpoint, request.old_size, request.proof, request.note)

    def _check_and_cosign(
        self, cp: Checkpoint, old_size: int, proof: Sequence[bytes], note: bytes
    ) -> Response:
        with self.state.transaction() as state:
            last = state.get(cp.origin)
            have_size, have_root = (0, EMPTY_ROOT) if last is None else (last.size, last.root)
            if old_size != have_size:
                log.info(
                    "checkpoint %d of %s sent with old size %d; the witness has %d",
                    cp.size,
                    cp.origin,
                    old_size,
                    have_size,
                )
                return Response(409, f"{have_size}\n".encode(), SIZE_CONTENT_TYPE)
            if old_size > 0 and not verify_consistency(
                old_size, cp.size, have_root, cp.root_hash, proof
            ):
                if old_size != cp.size:
                    why = f"the consistency proof from {old_size} to {cp.size} does not verify"
                elif cp.root_hash != have_root:
                    why = (
                        f"checkpoint {cp.size} has another root than the one cosigned at that size"
                    )
                else:
                    why = "a consistency proof between equal sizes must be empty"
                log.warning("split view? %s refused: %s", cp.origin, why)
                return _refuse(422, why)
            timestamp = max(1, int(self._clock()))
            sig = self.signer.sign(cp, timestamp)
            state.put(
                Cosigned(cp.origin, cp.size, cp.root_hash, add_signatures(note, [sig]), timestamp)
            )
        log.info("cosigned %s at size %d", cp.origin, cp.size)
        return Response(200, sig.line().encode("utf-8"))

    def latest(self, hex_origin_hash: str) -> Response:
        """Monitoring: the last checkpoint cosigned for the log, with its signatures."""
        record = self.state.by_origin_hash(hex_origin_hash)
        if record is None:
            return _refuse(404, "no checkpoint cosigned for that origin hash")
        return Response(200, record.note)


def _signature_problem(note: Note, keys: Sequence[NoteVerifier]) -> str | None:
    """None if a trusted key signed and no trusted key's line fails; else why not."""
    verified = False
    for key in keys:
        for sig in note.signatures:
            if key.matches(sig):
                if not key.verify(note.text, sig):
                    return f"the signature by log key {key.name}+{key.key_id.hex()} does not verify"
                verified = True
    if not verified:
        return "the checkpoint carries no signature by a key trusted for its origin"
    return None
