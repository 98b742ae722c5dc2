"""Where each sealed batch is on its way to the verifier (end-to-end acknowledgement).

Pure bookkeeping, no I/O (the pipeline acts on what it returns). A batch in the
outbox is, in order:

* not yet handed to paho (seq above the pipeline's hand-over mark; not tracked here);
* ``SENDING``: handed to paho, no PUBACK yet;
* ``AWAITING``: the broker took it (PUBACK, whatever the reason code below 0x80,
  including "no matching subscribers"); waiting for the verifier's signed verdict;
* ``QUARANTINED``: the verifier quarantined it; kept in the outbox and alarmed,
  not re-published on the timer (a restart re-publishes it once);
* acknowledged: a signed "accepted" or "duplicate" verdict named its header hash;
  the pipeline deletes it from the outbox and it leaves this table.

The re-publish timer: when the oldest awaiting batch has waited ``interval``
seconds, every awaiting batch is re-published in seq order and the interval
doubles (up to ``max_s``); any acknowledging verdict resets it to ``min_s``.
"""

from __future__ import annotations

import enum


class BatchState(enum.Enum):
    SENDING = "sending"
    AWAITING = "awaiting_verdict"
    QUARANTINED = "quarantined"


class Delivery:
    def __init__(self, *, min_s: float, max_s: float) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.interval = min_s
        self._state: dict[int, BatchState] = {}
        self._since: dict[int, float] = {}  # AWAITING seq -> when it got there

    def state(self, seq: int) -> BatchState | None:
        return self._state.get(seq)

    def count(self, state: BatchState) -> int:
        return sum(1 for s in self._state.values() if s is state)

    def quarantined(self) -> list[int]:
        return sorted(q for q, s in self._state.items() if s is BatchState.QUARANTINED)

    # --- transitions ------------------------------------------------------------------

    def handed(self, seq: int) -> None:
        if self._state.get(seq) is not BatchState.QUARANTINED:
            self._state[seq] = BatchState.SENDING
            self._since.pop(seq, None)

    def puback(self, seq: int, now: float) -> None:
        if self._state.get(seq) is BatchState.SENDING:
            self._state[seq] = BatchState.AWAITING
            self._since[seq] = now

    def refused(self, seq: int) -> None:
        """The broker refused it: it goes back to 'not yet handed'."""
        self._forget(seq)

    def acknowledged(self, seq: int) -> None:
        self._forget(seq)
        self.interval = self.min_s

    def quarantine(self, seq: int) -> bool:
        """Mark a quarantined batch; False if it already was."""
        if self._state.get(seq) is BatchState.QUARANTINED:
            return False
        self._state[seq] = BatchState.QUARANTINED
        self._since.pop(seq, None)
        return True

    def _forget(self, seq: int) -> None:
        self._state.pop(seq, None)
        self._since.pop(seq, None)

    # --- what to re-publish -------------------------------------------------------------

    def awaiting(self) -> list[int]:
        """Every awaiting batch, oldest first (re-published after a reconnect)."""
        return sorted(q for q, s in self._state.items() if s is BatchState.AWAITING)

    def due(self, now: float) -> list[int]:
        """The awaiting batches to re-publish now (all of them, or none), oldest first."""
        if not self._since or now - min(self._since.values()) < self.interval:
            return []
        self.interval = min(self.max_s, self.interval * 2)
        return self.awaiting()
