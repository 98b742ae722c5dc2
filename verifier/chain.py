"""The hash chain of one gateway's batches: where a new batch fits.

Pure logic over a snapshot of the chain head; the store applies the decision
inside the same write transaction in which it read the snapshot, so two workers
can never both extend the chain at the same seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from edgeseal.wire.batch import ZERO_HASH


@dataclass(frozen=True)
class ChainState:
    """The accepted head of one gateway's chain."""

    gateway_id: str
    head_seq: int  # 0 while nothing is accepted
    head_hash: bytes  # header hash of batch head_seq; ZERO_HASH while nothing is accepted
    public_key: bytes  # the key that must sign batch head_seq + 1 (after any rotation)

    @classmethod
    def initial(cls, gateway_id: str, enrolled_key: bytes) -> ChainState:
        return cls(gateway_id, 0, ZERO_HASH, enrolled_key)

    @property
    def next_seq(self) -> int:
        return self.head_seq + 1


class Placement(Enum):
    EXTENDS = "extends"  # seq = head + 1 and prev_hash = head hash: accept if checks pass
    DUPLICATE = "duplicate"  # the very batch accepted at that seq
    FORK = "fork"
    AHEAD = "ahead"  # seq > head + 1: hold until the gap closes


@dataclass(frozen=True)
class ChainDecision:
    placement: Placement
    detail: str = ""


def place(
    state: ChainState,
    *,
    seq: int,
    prev_hash: bytes,
    header_hash: bytes,
    accepted_hash_at_seq: bytes | None,
) -> ChainDecision:
    """Where a batch with this seq/prev_hash/header_hash fits onto ``state``.

    ``accepted_hash_at_seq`` is the header hash already accepted at ``seq`` (None
    if none); the caller looks it up for seq <= head.
    """
    if seq <= state.head_seq:
        if accepted_hash_at_seq == header_hash:
            return ChainDecision(Placement.DUPLICATE)
        found = accepted_hash_at_seq.hex() if accepted_hash_at_seq is not None else "none"
        return ChainDecision(
            Placement.FORK,
            f"seq {seq} was already accepted with header hash {found}; "
            f"this batch has header hash {header_hash.hex()}",
        )
    if seq == state.next_seq:
        if prev_hash != state.head_hash:
            return ChainDecision(
                Placement.FORK,
                f"prev_hash {prev_hash.hex()} does not match the accepted seq {state.head_seq} "
                f"header hash {state.head_hash.hex()}",
            )
        return ChainDecision(Placement.EXTENDS)
    return ChainDecision(
        Placement.AHEAD,
        f"waiting for seq {state.next_seq} (this batch is seq {seq}; "
        f"last accepted seq {state.head_seq})",
    )
