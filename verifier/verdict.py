"""What the verifier concluded about one batch, as stored, logged and published.

A verdict is one of four outcomes. ``accepted`` and ``duplicate`` need no action;
``pending`` means the batch is held until its predecessor arrives (a gap an
operator should see); ``quarantined`` carries a reason code from ``Reason`` and a
detail that names the check that failed, with expected and found values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum


class Outcome(str, Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # exact re-send of an accepted batch (the same bytes): ignored
    PENDING = "pending"  # held: its predecessor is not accepted yet
    QUARANTINED = "quarantined"


class Reason(str, Enum):
    """Why a batch was quarantined (or, for GAP, held)."""

    MALFORMED = "malformed"  # bytes do not follow docs/formats.md, or topic and header disagree
    UNKNOWN_GATEWAY = "unknown_gateway"  # gateway id not enrolled in the trust store
    # The header of an accepted batch (same header hash) with other bytes after it:
    # another header signature, or readings or reading signatures changed or reordered.
    ALTERED_COPY = "altered_copy"
    UNKNOWN_KEY = "unknown_key"  # header key_id is not the key the chain expects
    BAD_HEADER_SIGNATURE = "bad_header_signature"
    BAD_READING_SIGNATURES = "bad_reading_signatures"
    ROOT_MISMATCH = "root_mismatch"  # Merkle root over the leaves differs from header.root
    RECORD_MISMATCH = "record_mismatch"  # record gateway id or time outside header bounds
    FORK = "fork"  # a different batch for an accepted seq, or prev_hash not the accepted one
    REPLAY = "replay"  # readings that were already accepted (or repeat inside the batch)
    # A signed event the accounts refuse: a loss notice for an unknown boot, or one that
    # covers readings that are stored (accounts_store.py).
    BAD_EVENT = "bad_event"
    # Refused for now, not held (limits.py); the gateway re-sends it later:
    TOO_FAR_AHEAD = "too_far_ahead"  # seq more than limits.max_seq_jump past the head
    HELD_LIMIT = "held_limit"  # the gateway's (or all) held batches are at their bound
    GAP = "gap"  # only with PENDING: waiting for an earlier seq


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    gateway_id: str | None  # None only when not even the topic names a gateway
    seq: int | None
    header_hash: bytes | None
    count: int | None
    reason: Reason | None = None
    detail: str = ""
    waiting_for: int | None = None  # PENDING: the seq whose arrival releases this batch
    worker: str = ""
    # ACCEPTED: unexplained gaps this batch's chain position made due (accounts_store.py):
    # {gateway_id, device_id, boot_id, first_seq, last_seq} each.
    unexplained_gaps: tuple[dict[str, int | str], ...] = ()
    # ACCEPTED: readings stored (``count`` also counts the events among the leaves)
    readings: int | None = None

    def to_json(self) -> bytes:
        body: dict[str, object] = {
            "verdict": self.outcome.value,
            "gateway_id": self.gateway_id,
            "seq": self.seq,
            "header_hash": self.header_hash.hex() if self.header_hash is not None else None,
            "count": self.count,
            "reason": self.reason.value if self.reason is not None else None,
            "detail": self.detail,
            "waiting_for": self.waiting_for,
            "worker": self.worker,
        }
        if self.unexplained_gaps:
            body["unexplained_gaps"] = list(self.unexplained_gaps)
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def describe(self) -> str:
        """One line for the log."""
        what = f"gateway {self.gateway_id} batch seq {self.seq}"
        if self.outcome is Outcome.QUARANTINED:
            assert self.reason is not None
            return f"{what} quarantined ({self.reason.value}): {self.detail}"
        if self.outcome is Outcome.PENDING:
            return f"{what} held: {self.detail}"
        return f"{what} {self.outcome.value} ({self.count} readings)"
