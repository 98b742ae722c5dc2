"""Sequence tracking rules (docs/serial-protocol.md, "Reliability"), without I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import Ack, Heartbeat, Hello, Resend
from edgeseal.firmware_bridge.tracker import Gap, Probe, SequenceTracker

DEV = 0x10


def rd(seq: int, boot: int = 7) -> Reading:
    return Reading(DEV, boot, seq, 1, 2, seq, 0, 0, seq)


def hello(boot: int, first: int = 1, prev_boot: int = 0, prev_newest: int = 0) -> Hello:
    return Hello(DEV, boot, first, 1, 0, 0, 0, prev_boot, prev_newest)


def synced(boot: int = 7) -> SequenceTracker:
    t = SequenceTracker()
    t.hello(hello(boot), 0.0)
    return t


def delivered(events: Sequence[object]) -> list[int]:
    return [e.seq for e in events if isinstance(e, Reading)]


def test_in_order_readings_are_delivered_once() -> None:
    t = synced()
    assert delivered(t.reading(rd(1), 0).events) == [1]
    assert delivered(t.reading(rd(2), 0).events) == [2]
    dup = t.reading(rd(1), 0)
    assert dup.events == [] and dup.duplicates == 1


def test_duplicate_repeats_the_agents_last_ack() -> None:
    t = synced()
    t.reading(rd(1), 0)
    t.reading(rd(2), 0)
    assert t.acked(DEV, 7, 2) == Ack(DEV, 7, 2)
    assert t.reading(rd(2), 0).send == [Ack(DEV, 7, 2)]


def test_early_readings_wait_for_the_missing_one_which_is_requested() -> None:
    t = synced()
    t.reading(rd(1), 0)
    act = t.reading(rd(4), 0)
    assert act.events == []
    assert act.send == [Resend(DEV, 7, 2, 2)]
    assert t.reading(rd(5), 0.001).send == []  # already asked, not overdue
    assert delivered(t.reading(rd(2), 0.002).events) == [2]
    assert delivered(t.reading(rd(3), 0.003).events) == [3, 4, 5]


def test_overdue_requests_are_repeated_by_tick() -> None:
    t = synced()
    t.reading(rd(3), 0)
    assert t.tick(DEV, 0.01).send == []
    assert t.tick(DEV, 0.5).send == [Resend(DEV, 7, 1, 2)]


def test_every_missing_run_is_requested() -> None:
    t = synced()
    t.reading(rd(2), 0)
    act = t.reading(rd(5), 0)
    assert Resend(DEV, 7, 3, 2) in act.send
    assert t.tick(DEV, 1.0).send == [Resend(DEV, 7, 1, 1), Resend(DEV, 7, 3, 2)]


def test_heartbeat_reveals_a_lost_tail_and_requests_it() -> None:
    t = synced()
    t.reading(rd(1), 0)
    act = t.heartbeat(Heartbeat(DEV, 7, 3, 2, 100), 0)
    assert act.send == [Resend(DEV, 7, 2, 2)]


def test_ring_overwrite_is_reported_as_a_gap_and_held_readings_delivered() -> None:
    t = synced()
    t.reading(rd(1), 0)
    t.reading(rd(4), 0)
    act = t.heartbeat(Heartbeat(DEV, 7, 6, 6, 0), 0)  # device holds only 6 now
    assert act.events == [Gap(DEV, 7, 2, 4), rd(4), Gap(DEV, 7, 5, 6)]
    assert delivered(t.reading(rd(6), 0).events) == [6]


def test_reboot_reports_readings_known_to_exist_in_the_old_boot() -> None:
    t = synced(7)
    t.reading(rd(1), 0)
    t.reading(rd(3), 0)
    act = t.hello(hello(8, prev_boot=7, prev_newest=5), 0)
    assert act.events == [Gap(DEV, 7, 2, 3, "rebooted"), rd(3), Gap(DEV, 7, 4, 6, "rebooted")]
    assert delivered(t.reading(rd(1, boot=8), 0).events) == [1]


def test_reboot_seen_without_hello_starts_the_new_boot_at_one() -> None:
    t = synced(7)
    t.reading(rd(1), 0)
    act = t.reading(rd(2, boot=9), 0)  # HELLO of boot 9 was lost on the line
    assert act.events == []
    assert act.send == [Probe(DEV, 9), Resend(DEV, 9, 1, 1)]  # ask for its HELLO and seq 1
    assert delivered(t.reading(rd(1, boot=9), 0).events) == [1, 2]


def test_unknown_device_waits_for_its_ring_start_and_probes() -> None:
    t = SequenceTracker()
    act = t.reading(rd(41), 0)
    assert act.events == [] and act.send == [Probe(DEV, 7)]
    assert t.reading(rd(41), 0.1).send == []  # probes are rate-limited
    act = t.heartbeat(Heartbeat(DEV, 7, 42, 40, 0), 0)
    assert act.send == [Resend(DEV, 7, 40, 1), Resend(DEV, 7, 42, 1)]
    assert delivered(t.reading(rd(40), 0).events) == [40, 41]


def test_no_probe_once_hello_was_seen() -> None:
    t = synced()
    assert all(not isinstance(m, Probe) for m in t.reading(rd(1), 10.0).send)


def test_resume_from_skips_what_the_agent_already_stored() -> None:
    t = SequenceTracker(resume_from={(DEV, 7): 10})
    assert t.reading(rd(10), 0).duplicates == 1
    assert delivered(t.reading(rd(11), 0).events) == [11]


def test_ack_beyond_delivery_is_refused() -> None:
    t = synced()
    t.reading(rd(1), 0)
    with pytest.raises(ValueError, match="only readings up to 1"):
        t.acked(DEV, 7, 2)
    assert t.acked(DEV, 99, 1) is None  # a boot the device has left: nothing to send


def test_reboot_while_gateway_was_down_is_reported_from_resume_state() -> None:
    t = SequenceTracker(resume_from={(DEV, 7): 10})
    act = t.hello(hello(8, prev_boot=7, prev_newest=14), 0)
    assert act.events == [Gap(DEV, 7, 11, 15, "rebooted")]
    assert delivered(t.reading(rd(1, boot=8), 0).events) == [1]


def test_a_run_that_starts_arriving_is_not_requested_again() -> None:
    """Regression: asking again for the rest of a run on every arriving frame made the
    device resend the whole run per frame (a duplicate storm after each replug)."""
    t = synced()
    t.reading(rd(1), 0)
    assert t.heartbeat(Heartbeat(DEV, 7, 10, 2, 0), 0).send == [Resend(DEV, 7, 2, 9)]
    for seq in range(2, 6):
        act = t.reading(rd(seq), 0.001 * seq)
        assert delivered(act.events) == [seq] and act.send == []
    # Long after, what is still missing is asked for again, once.
    assert t.tick(DEV, 5.0).send == [Resend(DEV, 7, 6, 5)]
    assert t.tick(DEV, 5.001).send == []


def test_reconnect_asks_for_everything_from_the_next_expected_seq() -> None:
    t = synced()
    t.reading(rd(1), 0)
    assert t.reconnected(DEV, 0).send == [Resend(DEV, 7, 2, 0xFFFF)]
    assert SequenceTracker().reconnected(DEV, 0).send == []  # unknown device: nothing to ask


def test_a_closed_boot_is_never_reopened() -> None:
    t = synced(7)
    t.reading(rd(1), 0)
    t.hello(hello(8, prev_boot=7, prev_newest=1), 0)
    act = t.reading(rd(2), 0)  # a stale frame of boot 7 after boot 8 began
    assert act.events == [] and act.stale == 1
    assert t.next_expected(DEV) == (8, 1)


def test_lost_hello_tail_is_reported_when_a_later_hello_arrives() -> None:
    t = synced(7)
    t.reading(rd(1), 0)
    t.reading(rd(1, boot=8), 0)  # boot 8 seen first through a reading: boot 7 closed at 1
    act = t.hello(hello(8, prev_boot=7, prev_newest=4), 0)
    assert Gap(DEV, 7, 2, 5, "rebooted") in act.events


def test_late_hello_of_an_older_boot_does_not_close_the_live_boot() -> None:
    """Found by the model test: boot 102's frames were lost, boot 103's readings arrived,
    then 102's HELLO came late. Opening 102 then closed the live boot 103 for good."""
    from edgeseal.firmware_bridge.messages import Reading as _Reading
    from edgeseal.firmware_bridge.protocol import Hello as _Hello
    from edgeseal.firmware_bridge.tracker import Gap as _Gap
    from edgeseal.firmware_bridge.tracker import SequenceTracker as _Tracker

    dev = 7

    def reading(boot: int, seq: int) -> _Reading:
        return _Reading(dev, boot, seq, 1, 1, seq, 0, 0, seq)

    t = _Tracker()
    t.hello(_Hello(dev, 101, 1, 1, 0, 0, 0, 100, 0), 0.0)
    assert t.reading(reading(101, 1), 0.0).events == [reading(101, 1)]
    # Boot 102 (two readings) is never heard; boot 103 starts talking.
    first = [e.seq for e in t.reading(reading(103, 1), 0.1).events if isinstance(e, _Reading)]
    late = t.hello(_Hello(dev, 102, 1, 1, 0, 0, 0, 101, 1), 0.2)
    assert late.stale == 1 and late.events == []
    assert t.next_expected(dev) is not None and t.next_expected(dev)[0] == 103  # type: ignore[index]
    told = t.hello(_Hello(dev, 103, 1, 1, 0, 0, 0, 102, 2), 0.3)
    assert _Gap(dev, 102, 1, 3, "rebooted") in told.events
    delivered = first + [e.seq for e in told.events if isinstance(e, _Reading)]
    delivered += [e.seq for e in t.reading(reading(103, 2), 0.4).events if isinstance(e, _Reading)]
    assert delivered == [1, 2]


def test_a_boot_passed_unseen_is_reported_lost() -> None:
    from edgeseal.firmware_bridge.messages import Reading as _Reading
    from edgeseal.firmware_bridge.protocol import Hello as _Hello
    from edgeseal.firmware_bridge.tracker import Gap as _Gap
    from edgeseal.firmware_bridge.tracker import SequenceTracker as _Tracker

    dev = 8
    t = _Tracker()
    t.hello(_Hello(dev, 201, 1, 1, 0, 0, 0, 200, 0), 0.0)
    t.reading(_Reading(dev, 201, 1, 1, 1, 1, 0, 0, 1), 0.0)
    # The device went 201 -> 202 (five readings, all lost on the line) -> 203.
    act = t.hello(_Hello(dev, 203, 1, 1, 0, 0, 0, 202, 5), 1.0)
    assert _Gap(dev, 202, 1, 6, "rebooted") in act.events
    # A late frame of 202 is stale now, not a reason to leave boot 203.
    assert t.reading(_Reading(dev, 202, 3, 1, 1, 3, 0, 0, 3), 1.1).stale == 1
    assert t.next_expected(dev) == (203, 1)


def test_a_boot_passed_unseen_is_reported_lost_when_the_next_boots_hello_comes_late() -> None:
    """Found by the model test (seed=3056352): boot 101 (one reading) passed unseen, and a
    reading of boot 102 arrived before 102's HELLO, so 102 was already the current boot
    when its HELLO told of 101. The rule looked only at HELLOs that open a new boot, and
    101's reading was neither delivered nor reported."""
    t = synced(100)
    t.reading(rd(1, boot=100), 0.0)
    t.reading(rd(1, boot=102), 0.1)  # 101's HELLO and reading, and 102's HELLO, lost
    act = t.hello(hello(102, prev_boot=101, prev_newest=1), 0.2)
    assert act.events == [Gap(DEV, 101, 1, 2, "rebooted")]
    assert t.reading(rd(1, boot=101), 0.3).stale == 1  # a late frame of 101 cannot reopen it
    assert t.next_expected(DEV) == (102, 2)


def test_a_stale_hello_still_reports_the_tail_of_the_boot_before_it() -> None:
    """Found by the model test (seed=1593989504): the device went 101 -> 102 -> 103, and
    103's HELLO came before 102's. 101 was closed at the last seq the gateway knew of; the
    late HELLO of 102 was dropped as stale before its prev_newest_seq was read, so the
    rest of 101 was never reported."""
    t = synced(101)
    t.reading(rd(1, boot=101), 0.0)
    t.reading(rd(2, boot=101), 0.0)
    assert t.hello(hello(103, prev_boot=102, prev_newest=1), 0.1).events == [
        Gap(DEV, 102, 1, 2, "rebooted")
    ]
    late = t.hello(hello(102, prev_boot=101, prev_newest=5), 0.2)
    assert late.stale == 1 and late.events == [Gap(DEV, 101, 3, 6, "rebooted")]
    assert t.hello(hello(102, prev_boot=101, prev_newest=5), 0.3).events == []  # reported once
    assert t.next_expected(DEV) == (103, 1)


def test_reboot_while_gateway_was_down_is_reported_when_a_new_boot_frame_comes_first() -> None:
    """Issue 11: after an agent restart the device's HELLO is usually not the first frame
    (it was sent while nobody listened); a reading of the new boot is. Its HELLO, asked
    for with a HELLO request, still tells how far the old boot got."""
    t = SequenceTracker(resume_from={(DEV, 7): 10})
    act = t.reading(rd(1, boot=8), 0.0)
    assert act.events == [] and Probe(DEV, 8) in act.send
    act = t.hello(hello(8, prev_boot=7, prev_newest=14), 0.1)
    assert act.events == [Gap(DEV, 7, 11, 15, "rebooted"), rd(1, boot=8)]
    # The device repeats its HELLO until TIME arrives: the loss is reported once.
    assert t.hello(hello(8, prev_boot=7, prev_newest=14), 0.6).events == []
    assert t.reading(rd(11), 0.7).stale == 1  # a late frame of the old boot cannot reopen it
    assert t.next_expected(DEV) == (8, 2)


def test_after_a_restart_readings_of_the_old_boot_that_arrived_are_not_reported_lost() -> None:
    t = SequenceTracker(resume_from={(DEV, 7): 10})
    assert delivered(t.reading(rd(11), 0.0).events) == [11]  # still in the port's buffer
    assert delivered(t.reading(rd(12), 0.0).events) == [12]
    t.reading(rd(1, boot=8), 0.1)
    act = t.hello(hello(8, prev_boot=7, prev_newest=14), 0.2)
    assert [e for e in act.events if isinstance(e, Gap)] == [Gap(DEV, 7, 13, 15, "rebooted")]


def test_after_a_restart_a_loss_reported_before_it_is_not_reported_again() -> None:
    """The agent stored readings of boot 8, so the gateway saw boot 8 begin, and its HELLO
    (prev: boot 7 up to 14) made it report 7's loss then. The HELLO that answers the new
    process's HELLO request says the same again."""
    t = SequenceTracker(resume_from={(DEV, 7): 10, (DEV, 8): 3})
    assert t.hello(hello(8, first=4, prev_boot=7, prev_newest=14), 0.0).events == []
    t = SequenceTracker(resume_from={(DEV, 7): 10, (DEV, 8): 3})
    assert delivered(t.reading(rd(4, boot=8), 0.0).events) == [4]
    assert t.hello(hello(8, first=4, prev_boot=7, prev_newest=14), 0.1).events == []


def test_a_late_frame_of_an_unknown_boot_does_not_close_the_live_boot() -> None:
    """Found by the model test (seed=2975748467): the device went 100 -> 101 -> 102 within a
    few frames, and a reading of 102 came before a late one of 101. Taken for a newer boot,
    101 closed the live boot 102 for good; 103's HELLO (prev 102) then looked late and was
    dropped too, and so was every reading from then on."""
    t = synced(100)
    t.reading(rd(1, boot=100), 0.0)
    assert delivered(t.reading(rd(1, boot=102), 0.1).events) == [1]  # 102's HELLO lost
    late = t.reading(rd(1, boot=101), 0.7)
    assert late.events == [] and late.unconfirmed == 1
    assert late.send == [Probe(DEV, 102)]  # the device's HELLO says which boot it is in
    assert delivered(t.reading(rd(2, boot=102), 0.8).events) == [2]
    assert t.hello(hello(102, prev_boot=101, prev_newest=1), 0.9).events == [
        Gap(DEV, 101, 1, 2, "rebooted")
    ]
    act = t.hello(hello(103, prev_boot=102, prev_newest=2), 1.0)
    assert act.stale == 0 and t.next_expected(DEV) == (103, 1)


def test_a_new_boot_is_taken_without_its_hello_if_the_device_keeps_sending_it() -> None:
    t = SequenceTracker(confirm_wait=1.0)
    t.reading(rd(1, boot=7), 0.0)
    assert delivered(t.heartbeat(Heartbeat(DEV, 7, 1, 1, 0), 0.0).events) == [1]
    assert t.reading(rd(1, boot=8), 0.1).unconfirmed == 1  # boot 7's HELLO never came
    act = t.reading(rd(1, boot=8), 1.1)  # and none of boot 8: the device is in boot 8
    assert delivered(act.events) == [1] and t.next_expected(DEV) == (8, 2)
