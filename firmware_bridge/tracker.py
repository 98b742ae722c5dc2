"""Gateway-side sequence tracking: exactly-once, in-order delivery and gap detection.

Pure logic, no I/O: each input (a reading, HELLO or HEARTBEAT from a device)
returns ``Actions``: readings to deliver and gaps to report, in order, and
messages to send back to the device (RESEND requests, re-ACKs, HELLO requests).
The rules are those of docs/serial-protocol.md, "Reliability":

- Within one (device, boot) readings are delivered in seq order, each once.
  Readings that arrive early are held (up to ``max_reorder``) while the missing
  ones are requested with RESEND.
- A READING or HEARTBEAT of a boot not heard of before starts a new boot, unless
  the current boot's HELLO is still missing: then it may be a late frame of an
  older boot, and the device is asked which boot it is in first (``confirm_wait``).
- A seq below the next expected one is a duplicate: dropped, and the last ACK
  the agent gave is repeated so the device can free its ring.
- Readings are lost for good only when the device says so: a HEARTBEAT or HELLO
  whose oldest held seq is past what was delivered (ring overwritten), or a new
  boot while readings of the old boot were known to exist. Both become gaps.
- A device seen for the first time in this process is "unsynced" until its
  HELLO or HEARTBEAT says where its ring starts (readings before that were
  acknowledged earlier, by this gateway before a restart). Until a HELLO of the
  current boot arrives, a probe (HELLO request) asks for one. ``resume_from``
  (device_id, boot_id) -> last stored seq lets the agent skip the wait and the
  duplicates after a restart, and tells what of a boot the device left while the
  gateway was down was never stored: the new boot's HELLO (``prev_boot_id``,
  ``prev_newest_seq``) reports the rest of it lost, whichever frame came first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import Ack, Heartbeat, Hello, Resend

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gap:
    device_id: int
    boot_id: int
    expected: int
    received: int
    # Why they are lost: the device's ring overwrote them ("device_overflow"), or it
    # rebooted before sending them ("rebooted"). The link refines the first one.
    reason: str = "device_overflow"


@dataclass(frozen=True, slots=True)
class Probe:
    """Ask the device to announce itself (the link sends a HELLO request)."""

    device_id: int
    boot_id: int


Outgoing = Ack | Resend | Probe


@dataclass
class Actions:
    events: list[Reading | Gap] = field(default_factory=list)
    send: list[Outgoing] = field(default_factory=list)
    duplicates: int = 0
    stale: int = 0  # frames of a boot the device has already left
    unconfirmed: int = 0  # frames of a new boot dropped until the device confirms it


@dataclass
class _Boot:
    boot_id: int
    next_expected: int | None  # None: unsynced, start of the device's ring not known yet
    highest_known: int = 0  # highest seq known to exist in this boot
    acked: int = 0  # last cumulative ACK the agent gave
    pending: dict[int, Reading] = field(default_factory=dict)
    requested: dict[int, tuple[float, int]] = field(default_factory=dict)
    """missing seq -> (when last asked, times asked)"""
    oldest_ask: float = float("inf")  # earliest time in requested (may be stale-early)
    scanned_to: int = 0  # highest seq already checked for holes
    srtt: float = 0.0  # smoothed RESEND round trip, seconds (0: no sample yet)
    last_probe: float = float("-inf")
    hello_seen: bool = False
    after: int | None = None
    """boot_id of the boot the tracker left for this one; None if this is the first
    boot of the device this process has seen (it was not watching the device before)"""


@dataclass
class SequenceTracker:
    resume_from: Mapping[tuple[int, int], int] = field(default_factory=dict)
    max_reorder: int = 1024
    resend_interval: float = 0.2
    """Longest wait before asking again for a missing run."""
    min_resend_interval: float = 0.005
    probe_interval: float = 0.5
    confirm_wait: float = 1.0
    """How long frames of an unconfirmed new boot are dropped while no HELLO arrives."""
    max_requests: int = 16
    max_scan: int = 4096
    closed_boots: int = 16
    _boots: dict[int, _Boot] = field(default_factory=dict)
    _closed: dict[int, dict[int, int]] = field(default_factory=dict)
    """device -> {closed boot_id: first seq not accounted for}, oldest first"""
    _unconfirmed: dict[int, tuple[int, float]] = field(default_factory=dict)
    """device -> (boot_id, when its first frame came) of a boot not switched to yet"""

    # -- inputs ---------------------------------------------------------------

    def reading(self, r: Reading, now: float) -> Actions:
        act = Actions()
        b = self._frame_boot(r.device_id, r.boot_id, now, act)
        if b is None:
            return act
        b.highest_known = max(b.highest_known, r.seq)
        self._maybe_probe(r.device_id, b, now, act)
        if b.next_expected is None:
            self._hold(b, r)
            return act
        asked = b.requested.get(r.seq)
        if asked is not None and asked[1] == 1:
            # Round trip of an answered request; like TCP (Karn), only requests
            # asked once give an unambiguous sample. EWMA gain 1/8 as RFC 6298.
            sample = now - asked[0]
            b.srtt = sample if b.srtt == 0.0 else b.srtt + (sample - b.srtt) / 8
        if r.seq < b.next_expected:
            act.duplicates += 1
            if b.acked:
                act.send.append(Ack(r.device_id, r.boot_id, b.acked))
            return act
        if r.seq == b.next_expected:
            act.events.append(r)
            b.requested.pop(r.seq, None)
            b.next_expected += 1
            self._drain(b, act)
        else:
            self._hold(b, r)
        self._maybe_request(r.device_id, b, now, act)
        return act

    def heartbeat(self, hb: Heartbeat, now: float) -> Actions:
        act = Actions()
        b = self._frame_boot(hb.device_id, hb.boot_id, now, act)
        if b is None:
            return act
        b.highest_known = max(b.highest_known, hb.newest_seq)
        self._maybe_probe(hb.device_id, b, now, act)
        self._ring_starts_at(hb.device_id, b, hb.oldest_held, act)
        self._maybe_request(hb.device_id, b, now, act)
        return act

    def hello(self, h: Hello, now: float) -> Actions:
        act = Actions()
        current = self._boots.get(h.device_id)
        closed = self._closed.setdefault(h.device_id, {})
        end = closed.get(h.prev_boot_id)
        prev_was_closed = end is not None
        if end is not None and h.prev_newest_seq >= end:
            # The boot was closed on a frame of a later one (this HELLO was lost or
            # is late), before the gateway knew how far it got: report the tail now.
            # This holds for a stale HELLO too: its boot is over, but what it says
            # of the boot before is still the only word on that boot's end.
            act.events.append(
                Gap(h.device_id, h.prev_boot_id, end, h.prev_newest_seq + 1, "rebooted")
            )
            closed[h.prev_boot_id] = h.prev_newest_seq + 1
        if h.boot_id in closed:
            act.stale += 1
            return act
        # The boot the tracker saw the device in before the HELLO's boot, if any. A
        # HELLO can arrive after frames of its own boot (it was lost and repeated, or
        # answers a HELLO request), which have already made its boot the current one.
        if current is None:
            before = None
        elif current.boot_id == h.boot_id:
            before = current.after
        else:
            before = current.boot_id
        if end is None and h.prev_boot_id not in (before, h.boot_id) and h.prev_newest_seq >= 1:
            # This process never saw a frame of the previous boot: its readings died
            # with it, except what the agent stored before a restart.
            first = self._unseen_boot_lost_from(h, before)
            if first is not None:
                stop = max(first, h.prev_newest_seq + 1)
                if stop > first:
                    act.events.append(Gap(h.device_id, h.prev_boot_id, first, stop, "rebooted"))
                # Closed, a late frame of it is stale instead of reopening it.
                closed[h.prev_boot_id] = stop
        if (
            current is not None
            and h.boot_id != current.boot_id
            and prev_was_closed
            and h.prev_boot_id != current.boot_id
        ):
            # This boot directly followed one the tracker has already left for the
            # current boot, so it is older than the current one: its HELLO is late.
            # Opening it would close the live boot; remember it as over instead, with
            # nothing of it accounted for (its successor's HELLO reports the loss).
            closed.setdefault(h.boot_id, 1)
            act.stale += 1
            return act
        if (
            current is not None
            and current.boot_id != h.boot_id
            and h.prev_boot_id == current.boot_id
        ):
            # The device remembers how far its previous boot got: readings
            # beyond what arrived died with that boot's RAM.
            current.highest_known = max(current.highest_known, h.prev_newest_seq)
        b = self._boot_for(h.device_id, h.boot_id, act)
        if b is None:
            return act
        b.hello_seen = True
        self._ring_starts_at(h.device_id, b, h.first_seq, act)
        self._maybe_request(h.device_id, b, now, act)
        return act

    def acked(self, device_id: int, boot_id: int, seq: int) -> Ack | None:
        """Record the agent's cumulative ACK; returns the ACK to send, or None if the
        device has moved on to another boot since (its old ring is gone anyway)."""
        b = self._boots.get(device_id)
        if b is None or b.boot_id != boot_id:
            return None
        delivered = (b.next_expected or 1) - 1
        if seq > delivered:
            raise ValueError(
                f"ack of seq {seq} for device {device_id} boot {boot_id}, but only "
                f"readings up to {delivered} were delivered"
            )
        b.acked = max(b.acked, seq)
        return Ack(device_id, boot_id, b.acked)

    def next_expected(self, device_id: int) -> tuple[int, int | None] | None:
        """(boot_id, next seq to deliver) for a device, for diagnostics and tests."""
        b = self._boots.get(device_id)
        return None if b is None else (b.boot_id, b.next_expected)

    # -- internals ------------------------------------------------------------

    def _unseen_boot_lost_from(self, h: Hello, before: int | None) -> int | None:
        """First seq lost of ``h``'s previous boot, which this process never saw a frame
        of; None if nobody can tell. ``before``: the boot the tracker watched the
        device in before ``h``'s boot (None if that boot is the first it saw)."""
        resumed = self.resume_from.get((h.device_id, h.prev_boot_id))
        if before is not None:
            # The device went from the boot this process was watching through a whole
            # boot it never heard of (every frame lost) to this one.
            return 1 if resumed is None else resumed + 1
        if resumed is not None and (h.device_id, h.boot_id) not in self.resume_from:
            # The device rebooted while the gateway was down: what the agent had not
            # stored of the previous boot is gone. (If the agent had stored readings
            # of the new boot, the gateway before the restart saw that boot begin and
            # reported the loss from the same HELLO then.)
            return resumed + 1
        return None

    def _frame_boot(self, device_id: int, boot_id: int, now: float, act: Actions) -> _Boot | None:
        """The state of (device, boot) for a READING or HEARTBEAT; None if the frame is
        dropped.

        A frame of a boot this process has not heard of starts a new boot, except while
        the current boot's HELLO, which names the boot before it, has not arrived: then
        the frame may as well be a late one of a boot between the previous and the
        current one (frames reordered around two quick reboots), and switching to that
        boot would close the live one for good. The device is asked for its HELLO,
        which tells which boot it is in, and the frame is dropped meanwhile (the device
        resends what it holds). If the device keeps sending that boot's frames for
        ``confirm_wait`` without a HELLO getting through, it is taken as the new boot.
        """
        cur = self._boots.get(device_id)
        if (
            cur is not None
            and cur.boot_id != boot_id
            and not cur.hello_seen
            and boot_id not in self._closed.get(device_id, {})
        ):
            pending = self._unconfirmed.get(device_id)
            if pending is None or pending[0] != boot_id:
                pending = self._unconfirmed[device_id] = (boot_id, now)
            if now - pending[1] < self.confirm_wait:
                self._maybe_probe(device_id, cur, now, act)
                act.unconfirmed += 1
                return None
        return self._boot_for(device_id, boot_id, act)

    def _boot_for(self, device_id: int, boot_id: int, act: Actions) -> _Boot | None:
        """The state of (device, boot); None for a boot the device has already left.

        A closed boot is never reopened: its frames can only be stale (e.g. from a
        buffer that outlived a reboot), and reopening it would deliver its readings
        a second time. (A new boot drawing one of the last few random boot_ids,
        chance ~16 in 2^32, would be ignored until the next reboot.)
        """
        old = self._boots.get(device_id)
        if old is not None and old.boot_id == boot_id:
            return old
        closed = self._closed.setdefault(device_id, {})
        if boot_id in closed:
            act.stale += 1
            return None
        if old is not None:
            logger.info("device %08x rebooted: boot %08x -> %08x", device_id, old.boot_id, boot_id)
            self._close(device_id, old, act)
            closed[old.boot_id] = old.highest_known + 1
            if len(closed) > self.closed_boots:
                del closed[next(iter(closed))]
        resume = self.resume_from.get((device_id, boot_id))
        after = None if old is None else old.boot_id
        if resume is not None:
            b = _Boot(boot_id, resume + 1, highest_known=resume, acked=resume, after=after)
        elif old is not None:
            b = _Boot(boot_id, 1, after=after)  # every boot numbers its readings from 1
        else:
            b = _Boot(boot_id, None)
        self._boots[device_id] = b
        self._unconfirmed.pop(device_id, None)
        return b

    def _close(self, device_id: int, b: _Boot, act: Actions) -> None:
        """The device left this boot: deliver what was held, report what is missing."""
        if b.next_expected is None:
            b.next_expected = min(b.pending, default=b.highest_known + 1)
        self._advance_to(device_id, b, b.highest_known + 1, act, "rebooted")

    def _ring_starts_at(self, device_id: int, b: _Boot, oldest_held: int, act: Actions) -> None:
        if b.next_expected is None:
            # Everything before the ring's start was acknowledged earlier,
            # hence stored: anything held from before that is a duplicate.
            for seq in [s for s in b.pending if s < oldest_held]:
                del b.pending[seq]
            b.next_expected = max(oldest_held, 1)
            self._drain(b, act)
        elif oldest_held > b.next_expected:
            self._advance_to(device_id, b, oldest_held, act)

    def _advance_to(
        self, device_id: int, b: _Boot, target: int, act: Actions, reason: str = "device_overflow"
    ) -> None:
        assert b.next_expected is not None
        start = b.next_expected
        for seq in sorted(s for s in b.pending if s < target):
            if seq > start:
                act.events.append(Gap(device_id, b.boot_id, start, seq, reason))
            act.events.append(b.pending.pop(seq))
            start = seq + 1
        if target > start:
            act.events.append(Gap(device_id, b.boot_id, start, target, reason))
        b.next_expected = max(start, target)
        self._drain(b, act)

    def _drain(self, b: _Boot, act: Actions) -> None:
        assert b.next_expected is not None
        while b.next_expected in b.pending:
            act.events.append(b.pending.pop(b.next_expected))
            b.requested.pop(b.next_expected, None)
            b.next_expected += 1

    def _maybe_probe(self, device_id: int, b: _Boot, now: float, act: Actions) -> None:
        """No HELLO seen for this boot yet (sent before the port was open, or lost):
        ask for one, at most once per ``probe_interval``."""
        if not b.hello_seen and now - b.last_probe >= self.probe_interval:
            b.last_probe = now
            act.send.append(Probe(device_id, b.boot_id))

    def _hold(self, b: _Boot, r: Reading) -> None:
        # Beyond max_reorder the reading is dropped here; the device still holds
        # it and resends it later, so nothing is lost, only delayed.
        if r.seq not in b.pending and len(b.pending) < self.max_reorder:
            b.pending[r.seq] = r

    def _maybe_request(self, device_id: int, b: _Boot, now: float, act: Actions) -> None:
        """Ask for missing readings up to the highest seq known to exist.

        Requests are tracked per seq, not per run: when a requested run starts to
        arrive, the rest of it must not be asked for again (that would make every
        arriving frame trigger a resend of everything after it). A seq is asked for
        again only after the resend interval. New holes (beyond what was scanned
        before) are asked for at once; the whole window is rescanned only when some
        request is overdue, so the cost per frame stays small.
        """
        if b.next_expected is None:
            return
        if b.highest_known < b.next_expected:
            b.requested.clear()
            b.scanned_to = b.next_expected - 1
            b.oldest_ask = float("inf")
            return
        interval = self.resend_interval
        if b.srtt:
            interval = min(interval, max(self.min_resend_interval, 3 * b.srtt))
        overdue = now - b.oldest_ask >= interval
        first_scan = b.next_expected if overdue else max(b.scanned_to + 1, b.next_expected)
        last_scan = min(b.highest_known, b.next_expected + self.max_scan - 1)
        if first_scan > last_scan:
            return
        requested, pending = b.requested, b.pending
        runs: list[tuple[int, int]] = []
        run_first: int | None = None
        for seq in range(first_scan, last_scan + 1):
            asked = requested.get(seq)
            due = seq not in pending and (asked is None or now - asked[0] >= interval)
            if due and run_first is None:
                run_first = seq
            elif not due and run_first is not None:
                runs.append((run_first, seq))
                run_first = None
        if run_first is not None:
            runs.append((run_first, last_scan + 1))
        b.scanned_to = max(b.scanned_to, last_scan)
        for first, end in runs[: self.max_requests]:
            count = min(end - first, 0xFFFF)
            for seq in range(first, first + count):
                asked = requested.get(seq)
                requested[seq] = (now, 1 if asked is None else asked[1] + 1)
            act.send.append(Resend(device_id, b.boot_id, first, count))
        if overdue:
            for seq in [q for q in requested if q < b.next_expected]:
                del requested[seq]
            b.oldest_ask = min((t for t, _ in requested.values()), default=float("inf"))
        elif runs:
            b.oldest_ask = min(b.oldest_ask, now)

    def reconnected(self, device_id: int, now: float) -> Actions:
        """The device's port was reopened: what it sent meanwhile is lost in the
        driver, so ask at once for everything from the next expected seq instead
        of waiting for the device's retransmit timeout."""
        act = Actions()
        b = self._boots.get(device_id)
        if b is None or b.next_expected is None:
            return act
        act.send.append(Resend(device_id, b.boot_id, b.next_expected, 0xFFFF))
        return act

    def tick(self, device_id: int, now: float) -> Actions:
        """Repeat overdue RESEND requests for a device; call a few times per resend_interval."""
        act = Actions()
        b = self._boots.get(device_id)
        if b is not None:
            self._maybe_request(device_id, b, now, act)
        return act
