"""When to ask a gateway to re-publish: one schedule per gateway with a gap.

Pure logic over the store's gap list (``VerifierStore.gaps()``): the service calls
``due`` every tick and publishes the signed requests it returns. A gateway whose
next seq has been missing for ``after_s`` while later batches are held is asked
for the missing range; while the gap stays open the request is repeated with
doubling intervals up to ``max_s``. After ``UNFILLED_AFTER`` requests the gap is
reported as one the gateway cannot fill (docs/verifier.md gives the recovery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edgeseal.verifier.store import Gap
from edgeseal.wire.resend import ResendRequest

# Requests without the gap closing before it is called unfillable (logged at ERROR).
UNFILLED_AFTER = 5


@dataclass
class _Schedule:
    waiting_for: int
    next_at: float  # monotonic seconds
    sent: int = 0


@dataclass(frozen=True)
class Unfilled:
    """A gap that stayed open after UNFILLED_AFTER requests."""

    gateway_id: str
    first_seq: int
    last_seq: int
    requests: int


class ResendScheduler:
    def __init__(self, *, after_s: float, max_s: float) -> None:
        self.after_s = after_s
        self.max_s = max_s
        self._schedules: dict[str, _Schedule] = {}
        self.unfilled: dict[str, Unfilled] = {}  # gateway id -> its unfillable gap

    def due(self, gaps: Sequence[Gap], *, now: float, now_us: int) -> list[ResendRequest]:
        """The requests to publish now, one per gateway at most."""
        requests: list[ResendRequest] = []
        current = {g.gateway_id for g in gaps}
        for gateway_id in list(self._schedules):
            if gateway_id not in current:  # the gap closed
                del self._schedules[gateway_id]
                self.unfilled.pop(gateway_id, None)
        for gap in gaps:
            later = [s for s in gap.held_seqs if s > gap.waiting_for]
            if not later:
                continue  # held batches the chain has reached: released on the next message
            first, last = gap.waiting_for, min(later) - 1
            schedule = self._schedules.get(gap.gateway_id)
            if schedule is None or schedule.waiting_for != first:
                open_for = max(0.0, (now_us - gap.oldest_received_us) / 1e6)
                schedule = _Schedule(first, now + max(0.0, self.after_s - open_for))
                self._schedules[gap.gateway_id] = schedule
                self.unfilled.pop(gap.gateway_id, None)
            if now < schedule.next_at:
                continue
            if schedule.sent >= UNFILLED_AFTER:
                self.unfilled[gap.gateway_id] = Unfilled(gap.gateway_id, first, last, schedule.sent)
            schedule.sent += 1
            schedule.next_at = now + min(self.max_s, self.after_s * 2**schedule.sent)
            requests.append(ResendRequest(gap.gateway_id, first, last, now_us))
        return requests
