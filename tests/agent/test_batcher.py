"""BatchClock: seal at max_readings, or max_delay_s after the oldest unsealed reading."""

from __future__ import annotations

from edgeseal.agent.batcher import BatchClock
from edgeseal.agent.config import BatchPolicy


def test_count_and_delay_triggers() -> None:
    clock = BatchClock(BatchPolicy(max_readings=10, max_delay_s=2.0))
    assert not clock.due(0.0) and clock.seconds_until_due(0.0) is None
    clock.readings_added(4, now=100.0)
    assert not clock.due(101.9) and clock.seconds_until_due(101.0) == 1.0
    assert clock.due(102.0)
    clock.readings_added(6, now=100.5)
    assert clock.due(100.5) and clock.seconds_until_due(100.5) == 0.0


def test_leftovers_keep_their_own_age() -> None:
    clock = BatchClock(BatchPolicy(max_readings=10, max_delay_s=2.0))
    clock.readings_added(8, now=0.0)
    clock.readings_added(8, now=1.5)
    clock.sealed(10)  # all of the first burst and 2 of the second
    assert clock.pending == 6
    assert not clock.due(3.4) and clock.due(3.5), "the rest is due 2 s after *its* arrival"
    clock.sealed(6)
    assert clock.pending == 0 and not clock.due(100.0)


def test_restored_readings_are_due_at_once() -> None:
    clock = BatchClock(BatchPolicy(max_readings=100, max_delay_s=30.0))
    clock.restored(3, now=50.0)
    assert clock.due(50.0)
    clock.restored(0, now=50.0)
    assert not clock.due(50.0)
