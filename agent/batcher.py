"""When to seal: a batch closes at ``max_readings`` or ``max_delay_s`` after its oldest reading."""

from __future__ import annotations

from collections import deque

from edgeseal.agent.config import BatchPolicy


class BatchClock:
    """Arrival times of the unsealed readings, one entry per stored burst (monotonic s)."""

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._bursts: deque[list[float]] = deque()  # [arrival time, readings left]
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    def readings_added(self, count: int, now: float) -> None:
        if count:
            self._bursts.append([now, float(count)])
            self._pending += count

    def restored(self, pending: int, now: float) -> None:
        """After a restart the readings' age is unknown: treat them as due now."""
        self._bursts.clear()
        self._pending = 0
        self.readings_added(pending, now - self.policy.max_delay_s)

    def sealed(self, count: int) -> None:
        self._pending -= count
        while count and self._bursts:
            head = self._bursts[0]
            take = min(count, int(head[1]))
            head[1] -= take
            count -= take
            if head[1] == 0:
                self._bursts.popleft()

    def due(self, now: float) -> bool:
        if self._pending >= self.policy.max_readings:
            return True
        return bool(self._bursts) and now - self._bursts[0][0] >= self.policy.max_delay_s

    def seconds_until_due(self, now: float) -> float | None:
        if not self._bursts:
            return None
        if self._pending >= self.policy.max_readings:
            return 0.0
        return max(0.0, self._bursts[0][0] + self.policy.max_delay_s - now)
