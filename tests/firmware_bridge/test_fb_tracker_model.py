"""Model-based property test of the tracker: a device with a ring talks to it over a
lossy, duplicating, reordering channel; whatever happens, every reading is delivered
exactly once in order, or reported lost, never both (docs/serial-protocol.md)."""

from __future__ import annotations

import random
from collections import deque

from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import Ack, Heartbeat, Hello, Resend
from edgeseal.firmware_bridge.tracker import Gap, Probe, SequenceTracker

DEV = 3
RING = 16


class ModelDevice:
    def __init__(self, rng: random.Random, overwrite: bool) -> None:
        self.rng = rng
        self.overwrite = overwrite
        self.boots: list[tuple[int, int]] = []  # (boot_id, generated)
        self.reboot()

    def reboot(self) -> None:
        prev = self.boots[-1] if self.boots else (0, 0)
        self.boot = len(self.boots) + 100
        self.boots.append((self.boot, 0))
        self.next_seq = 1
        self.oldest = 1
        self.prev = prev

    def generated(self) -> int:
        return self.next_seq - 1

    def hello(self) -> Hello:
        return Hello(DEV, self.boot, self.oldest, 1, 0, 0, 0, self.prev[0], self.prev[1])

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(DEV, self.boot, self.next_seq - 1, self.oldest, 0)

    def reading(self, seq: int) -> Reading:
        return Reading(DEV, self.boot, seq, 1, 1, seq, 0, 0, seq)

    def sample(self) -> Reading | None:
        if self.next_seq - self.oldest >= RING:
            if not self.overwrite:
                return None
            self.oldest += 1
        seq = self.next_seq
        self.next_seq += 1
        self.boots[-1] = (self.boot, self.generated())
        return self.reading(seq)

    def held(self) -> range:
        return range(self.oldest, self.next_seq)

    def on(self, msg: object) -> list[object]:
        if isinstance(msg, Probe):
            return [self.hello()]
        if getattr(msg, "boot_id", None) != self.boot:
            return []
        if isinstance(msg, Ack) and msg.seq < self.next_seq:
            self.oldest = max(self.oldest, msg.seq + 1)
        if isinstance(msg, Resend):
            out: list[object] = [self.heartbeat()]
            out += [
                self.reading(s)
                for s in range(max(msg.seq, self.oldest), min(msg.seq + msg.count, self.next_seq))
            ]
            return out
        return []


@settings(max_examples=150, deadline=None)
# Cases the search found, checked on every run:
# - a reading of boot 102 arrived before 102's HELLO, which told of boot 101 passing
#   unseen (test_fb_tracker.py, ..._when_the_next_boots_hello_comes_late).
@example(seed=3056352, loss=0.4, overwrite=True, reboots=3)
# - boot 103's HELLO came before 102's, and the late HELLO of 102 was dropped before its
#   word on how far 101 got was read (..._a_stale_hello_still_reports_the_tail_...).
@example(seed=1593989504, loss=0.1, overwrite=False, reboots=3)
# - a late reading of boot 101 came after one of 102, whose HELLO was lost, and was
#   taken for a newer boot (..._a_late_frame_of_an_unknown_boot_does_not_close_...).
@example(seed=2975748467, loss=0.4, overwrite=True, reboots=3)
@given(
    seed=st.integers(0, 2**32 - 1),
    loss=st.sampled_from([0.0, 0.1, 0.4]),
    overwrite=st.booleans(),
    reboots=st.integers(0, 3),
)
def test_exactly_once_or_reported_under_random_faults(
    seed: int, loss: float, overwrite: bool, reboots: int
) -> None:
    rng = random.Random(seed)
    dev = ModelDevice(rng, overwrite)
    tracker = SequenceTracker(resend_interval=0.05, min_resend_interval=0.01)
    to_gw: deque[object] = deque([dev.hello()])
    delivered: dict[int, list[int]] = {}
    lost: dict[int, list[int]] = {}
    told_end: set[int] = set()  # boots whose end a HELLO of the next boot announced
    reboot_at = sorted(rng.sample(range(50, 400), reboots))
    now = 0.0

    def send_to_gw(msg: object) -> None:
        if rng.random() < loss:
            return
        pos = (
            len(to_gw) - rng.randrange(min(3, len(to_gw)) + 1) if rng.random() < 0.1 else len(to_gw)
        )
        to_gw.insert(pos, msg)
        if rng.random() < 0.05:
            to_gw.append(msg)

    def gateway(msg: object) -> None:
        if isinstance(msg, Reading):
            act = tracker.reading(msg, now)
        elif isinstance(msg, Heartbeat):
            act = tracker.heartbeat(msg, now)
        else:
            assert isinstance(msg, Hello)
            told_end.add(msg.prev_boot_id)
            act = tracker.hello(msg, now)
        last: Reading | None = None
        for ev in act.events:
            if isinstance(ev, Gap):
                lost.setdefault(ev.boot_id, []).extend(range(ev.expected, ev.received))
            else:
                delivered.setdefault(ev.boot_id, []).append(ev.seq)
                last = ev
        replies = list(act.send)
        if last is not None and rng.random() < 0.7:
            ack = tracker.acked(DEV, last.boot_id, last.seq)
            if ack is not None:
                replies.append(ack)
        for m in replies:
            if rng.random() >= loss:
                for out in dev.on(m):
                    send_to_gw(out)

    for step in range(600):
        now += 0.005
        if reboot_at and step == reboot_at[0]:
            reboot_at.pop(0)
            dev.reboot()
            send_to_gw(dev.hello())
        if step < 450:
            r = dev.sample()
            if r is not None:
                send_to_gw(r)
        if step % 20 == 0:
            send_to_gw(dev.heartbeat())
        if step % 7 == 0:  # device retransmit timeout: resend what it holds
            for seq in dev.held():
                send_to_gw(dev.reading(seq))
        for m in tracker.tick(DEV, now).send:
            for out in dev.on(m):
                send_to_gw(out)
        for _ in range(rng.randrange(1, 4)):
            if to_gw:
                gateway(to_gw.popleft())
    # Drain on a now perfect line until the device's ring is empty.
    loss = 0.0
    for _ in range(2000):
        now += 0.05
        send_to_gw(dev.heartbeat())
        for seq in dev.held():
            send_to_gw(dev.reading(seq))
        while to_gw:
            gateway(to_gw.popleft())
        last_boot = dev.boot
        done = len(delivered.get(last_boot, [])) + len(lost.get(last_boot, [])) == dev.generated()
        if done and not dev.held():
            break
    for boot, generated in dev.boots:
        got = delivered.get(boot, [])
        gone = lost.get(boot, [])
        assert got == sorted(got) and len(got) == len(set(got)), f"boot {boot}: order or duplicate"
        assert not set(got) & set(gone), f"boot {boot}: delivered and reported lost"
        missing = sorted(set(range(1, generated + 1)) - set(got) - set(gone))
        if boot == dev.boot or boot in told_end:
            assert missing == [], f"boot {boot}: {generated} generated, {missing} unaccounted for"
        else:
            # The device rebooted again before any HELLO announcing this boot's end
            # reached the gateway: only a tail the gateway never heard of can be
            # unaccounted for (docs/serial-protocol.md, "What cannot be detected").
            accounted = max(got + gone, default=0)
            assert missing == list(range(accounted + 1, generated + 1)), (boot, missing)
    if not overwrite and reboots == 0:
        assert not lost, "nothing may be lost without overwrite or reboot"
