"""The agent's data path: link events -> signed readings -> outbox -> ACK; seal; publish.

One thread drives everything here (the paho network thread only enqueues PUBACKs),
so the outbox has a single writer and the order of operations is the order of
the code:

1. ``handle_events``: readings are signed and stored in one transaction per burst;
   only then does each device get a cumulative ACK. Resent readings already stored
   are ACKed again but not stored twice. When the outbox is at its bound (or the
   disk is full) readings are held in memory, unsigned and unACKed: the devices
   keep their copies (back-pressure), nothing is dropped.
2. ``seal_due``: a batch closes at ``batch.max_readings`` or ``batch.max_delay_s``;
   sealing and the chain head move in one transaction.
3. ``pump_publisher``: batches go to the broker in seq order, at most
   ``mqtt.max_inflight`` at a time. With end-to-end acknowledgement a batch leaves
   the outbox only on the verifier's signed "accepted"/"duplicate" verdict naming
   its header hash (agent/delivery.py tracks sending / awaiting verdict /
   quarantined); it is re-published on a backoff timer, after a reconnect and when
   the verifier's signed resend request asks. In legacy mode (no verifier key) the
   PUBACK is enough.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol

from edgeseal.agent.batcher import BatchClock
from edgeseal.agent.config import AgentConfig
from edgeseal.agent.delivery import BatchState, Delivery
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import Outbox, OutboxFull
from edgeseal.agent.publisher import BatchPublisher, PublishResult
from edgeseal.agent.rotation import KeyPlan, KeyRotation
from edgeseal.agent.seal import seal_batch
from edgeseal.agent.signer import ReadingLike, SignedLeaf, SignedReading
from edgeseal.firmware_bridge.messages import (
    DeviceHello,
    LinkEvent,
    PortStatus,
    ReadingReceived,
    SequenceGap,
)
from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.event import (
    AgentStart,
    AgentStop,
    Backpressure,
    DeviceBoot,
    EventBody,
    LossReason,
    ReadingsLost,
)
from edgeseal.wire.record import FormatError, ReadingRecord
from edgeseal.wire.resend import open_resend_request
from edgeseal.wire.verdict import (
    RETRY_LATER_REASONS,
    EnvelopeError,
    VerdictOutcome,
    open_verdict,
)

log = logging.getLogger(__name__)

# After the disk filled up, retry storing at most this often (signing is wasted work).
DISK_FULL_RETRY_S = 1.0
IDLE_POLL_S = 0.25
BACKLOG_STATUS_S = 1.0  # the oldest unsent age and the status' backlog, at most this often
BUSY_POLL_S = 0.02


class AckSink(Protocol):
    def ack(self, device_id: int, boot_id: int, seq: int) -> None: ...


class EventSource(AckSink, Protocol):
    def events(self, timeout: float) -> list[LinkEvent]: ...


@dataclass(frozen=True)
class HeldReading:
    reading: ReadingLike
    time_us: int


@dataclass(frozen=True)
class HeldEvent:
    """An event waiting to be signed and stored, in order with the readings around it."""

    body: EventBody
    time_us: int


_LOSS_REASONS = {
    "device_overflow": LossReason.DEVICE_OVERFLOW,
    "link_down": LossReason.LINK_DOWN,
    "rebooted": LossReason.REBOOTED,
}


def _agent_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return "edgeseal " + version("edgeseal")
    except PackageNotFoundError:
        return "edgeseal"


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def assert_never(value: NoReturn) -> NoReturn:
    """Exhaustiveness check (``typing.assert_never`` is 3.11+, the agent runs on 3.10).

    mypy accepts a call only where every other case has been handled, so a member of
    ``LinkEvent`` without a case is a type error; at run time this is unreachable.
    """
    raise AssertionError(f"unhandled link event {value!r}")


class Pipeline:
    def __init__(
        self,
        *,
        config: AgentConfig,
        outbox: Outbox,
        keys: KeyPlan,
        publisher: BatchPublisher,
        metrics: AgentMetrics,
        monotonic: Callable[[], float] = time.monotonic,
        wall_us: Callable[[], int] = wall_clock_us,
    ) -> None:
        self.config = config
        self.gateway_id = config.gateway.id
        self.outbox = outbox
        self.publisher = publisher
        self.metrics = metrics
        self._monotonic = monotonic
        self._wall_us = wall_us
        head = outbox.chain_head()
        self._head_seq, self._head_hash = head.seq, head.hash
        self.clock = BatchClock(config.batch)
        self.clock.restored(outbox.pending_count, monotonic())
        oldest = outbox.oldest_batch_seq()
        self._handed_upto = (oldest - 1) if oldest is not None else head.seq
        self._held: list[HeldReading | HeldEvent] = []
        # (device, boot) whose boot this process has sealed an event for: a loss notice
        # for any other boot is preceded by a boot event, so the verifier knows the boot.
        # True: from the device's own HELLO; False: inferred, firmware unknown.
        self._announced: dict[tuple[int, int], bool] = {}
        # Highest seq a loss notice of this process covers, per (device, boot).
        self._lost_to: dict[tuple[int, int], int] = {}
        # drop-oldest: the unsealed gateway_policy notice per (device, boot), (row id,
        # first, last), extended while the drop run goes on; the first seq logged.
        self._open_notices: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._backlog_shown_at = float("-inf")
        self._told_dropping: dict[tuple[int, int], int] = {}
        self._seen: dict[tuple[int, int], int] = {}  # highest seq taken per (device, boot)
        self._retry_store_at = 0.0
        self._retry_publish_at = 0.0
        self._backpressure_reason: str | None = None
        self._rejections = 0
        self._acked_unrecorded: set[int] = set()
        link = config.verifier
        self._verifier_key = link.public_key  # None: legacy mode, forget on PUBACK
        self.delivery = Delivery(min_s=link.republish_min_s, max_s=link.republish_max_s)
        self._republish: set[int] = set()  # seqs to publish again, before new ones
        self._acknowledged: dict[int, bytes] = {}  # verified, not yet deleted: seq -> hash
        self._told_unheard = False
        if outbox.pending_count or outbox.batch_count:
            log.info(
                "resuming: chain at batch %d, %d readings to seal, %d batches to publish",
                head.seq,
                outbox.pending_count,
                outbox.batch_count,
            )
        self._rotation = KeyRotation(self.gateway_id, keys, outbox)
        self._update_gauges()

    # --- 1. intake ------------------------------------------------------------------------

    @property
    def backpressure(self) -> bool:
        return self._backpressure_reason is not None

    @property
    def held_count(self) -> int:
        """Readings received but not stored yet (events waiting with them not counted)."""
        return sum(isinstance(h, HeldReading) for h in self._held)

    def handle_events(self, events: Sequence[LinkEvent], acks: AckSink) -> None:
        """Take one burst of link events; readings are stored and ACKed together."""
        now_us = self._wall_us()
        for event in events:
            match event:
                case ReadingReceived(reading=reading):
                    self._take(reading, now_us, acks)
                case SequenceGap():
                    self.metrics.readings_lost.inc(event.lost)
                    self._loss_notice(event, now_us)
                    log.warning(
                        "device %d (boot %d) on %s lost readings %d..%d for good (its buffer "
                        "overflowed or it rebooted before sending them)",
                        event.device_id,
                        event.boot_id,
                        event.port,
                        event.expected,
                        event.received - 1,
                    )
                case PortStatus():
                    if event.up:
                        log.info("serial port %s is up: %s", event.port, event.detail)
                    else:
                        self.metrics.serial_errors.inc()
                        log.warning("serial port %s is down: %s", event.port, event.detail)
                case DeviceHello():
                    self._boot_event(event, now_us)
                    log.info(
                        "device %d on %s booted (boot %d, firmware %s, first seq %d)",
                        event.device_id,
                        event.port,
                        event.boot_id,
                        event.firmware_version,
                        event.first_seq,
                    )
                case _:
                    # A new or renamed member of LinkEvent lands here: a type error, not
                    # an event silently ignored (tests/agent/test_intake_types.py).
                    assert_never(event)
        self.store_held(acks)

    def add_event(self, body: EventBody, time_us: int | None = None) -> None:
        """Queue an event to be signed and sealed after what was received before it."""
        self._held.append(HeldEvent(body, self._wall_us() if time_us is None else time_us))

    def starting(self) -> None:
        """The agent (re)started: seal an agent-start event before anything it receives."""
        self.add_event(AgentStart(_agent_version()))

    def stopping(self, detail: str) -> None:
        """The agent is shutting down: seal an agent-stop event (flush stores it)."""
        self.add_event(AgentStop(detail))

    def _boot_event(self, hello: DeviceHello, now_us: int) -> None:
        key = (hello.device_id, hello.boot_id)
        if self._announced.get(key):
            return  # the device repeats its HELLO (asked by the link); one event per boot
        self._announced[key] = True
        public_key = hello.public_key if hello.public_key and len(hello.public_key) == 32 else None
        self.add_event(
            DeviceBoot(
                hello.device_id,
                hello.boot_id,
                hello.first_seq,
                hello.firmware_version,
                public_key,
            ),
            now_us,
        )

    def _loss_notice(self, gap: SequenceGap, now_us: int) -> None:
        if gap.received <= gap.expected:
            return
        reason = _LOSS_REASONS.get(gap.reason, LossReason.DEVICE_OVERFLOW)
        self._lost_before_first((gap.device_id, gap.boot_id), gap.expected, now_us)
        self._declare_lost(
            gap.device_id, gap.boot_id, gap.expected, gap.received - 1, reason, now_us
        )

    def _lost_before_first(self, key: tuple[int, int], first: int, now_us: int) -> None:
        """The first seq this gateway learns of a boot it stored nothing of (a reading or
        a gap) is past 1: the device's ring overwrote the ones before it unsent (it sampled
        before the gateway was up, or while the agent was down)."""
        if key in self._seen or self.outbox.last_stored_seq(*key) is not None:
            return
        start = self._lost_to.get(key, 0) + 1
        if first > start:
            self._declare_lost(key[0], key[1], start, first - 1, LossReason.DEVICE_OVERFLOW, now_us)

    def _declare_lost(
        self, device_id: int, boot_id: int, first: int, last: int, reason: LossReason, now_us: int
    ) -> None:
        key = (device_id, boot_id)
        if key not in self._announced:
            # A boot this process never saw a HELLO of (e.g. the device's previous boot,
            # named by the next boot's HELLO): announce it as inferred, firmware unknown.
            self._announced[key] = False
            self.add_event(DeviceBoot(device_id, boot_id, 1, "", None, True), now_us)
        self._lost_to[key] = max(self._lost_to.get(key, 0), last)
        self.add_event(ReadingsLost(device_id, boot_id, first, last, reason), now_us)

    def handle_readings(self, readings: Sequence[ReadingLike], acks: AckSink) -> None:
        """Take readings without link events around them (benchmarks, tests)."""
        now_us = self._wall_us()
        for reading in readings:
            self._take(reading, now_us, acks)
        self.store_held(acks)

    def _take(self, reading: ReadingLike, now_us: int, acks: AckSink) -> None:
        self.metrics.readings_received.inc()
        key = (reading.device_id, reading.boot_id)
        last = self._seen.get(key)
        if last is None:
            stored = self.outbox.last_stored_seq(*key)
            last = -1 if stored is None else stored
            if stored is None:
                self._lost_before_first(key, reading.seq, now_us)
        if reading.seq <= last:
            # The device resent it because our ACK was lost (e.g. we crashed after the
            # commit): it is stored already, so only the ACK is repeated.
            self.metrics.readings_duplicate.inc()
            stored = self.outbox.last_stored_seq(*key)
            if stored is not None and reading.seq <= stored:
                self._ack(acks, reading.device_id, reading.boot_id, reading.seq)
            return
        self._seen[key] = reading.seq
        self._held.append(HeldReading(reading, now_us))

    def store_held(self, acks: AckSink) -> bool:
        """Sign and store the held readings in one transaction, then ACK them."""
        if not self._held:
            return True
        now = self._monotonic()
        if now < self._retry_store_at:
            return False
        # Checked first: signing is the expensive part.
        refusal = self.outbox.disk_refusal() or self._full_reason()
        over_bound = False
        if refusal is not None and self._drop_oldest and self.outbox.disk_refusal() is None:
            # drop-oldest: keep ACKing; make room among the unsealed readings instead
            self._make_room(self.held_count)
            refusal, over_bound = None, True
        if refusal is not None:
            self._set_backpressure(refusal)
            return False
        signer = self._rotation.signer
        sign, sign_event = signer.sign, signer.sign_event
        signed: list[SignedLeaf] = [
            sign(h.reading, h.time_us)
            if isinstance(h, HeldReading)
            else sign_event(h.body, h.time_us)
            for h in self._held
        ]
        try:
            self.outbox.add_readings(signed, over_bound=over_bound)
        except OutboxFull as exc:
            self._retry_store_at = now + DISK_FULL_RETRY_S
            self._set_backpressure(str(exc))
            return False
        self._held.clear()
        self._set_backpressure(None)
        self.metrics.readings_signed.inc(sum(isinstance(r, SignedReading) for r in signed))
        self.clock.readings_added(len(signed), now)
        self._ack_stored(signed, acks)
        self._update_gauges()
        return True

    def _ack_stored(self, signed: Sequence[SignedLeaf], acks: AckSink) -> None:
        highest: dict[tuple[int, int], int] = {}
        for r in signed:
            if isinstance(r, SignedReading):
                highest[(r.device_id, r.boot_id)] = r.seq  # in order per (device, boot)
        for (device_id, boot_id), seq in highest.items():
            self._ack(acks, device_id, boot_id, seq)

    def _ack(self, acks: AckSink, device_id: int, boot_id: int, seq: int) -> None:
        try:
            acks.ack(device_id, boot_id, seq)
        except Exception as exc:  # noqa: BLE001 - a vanished port must not stop the agent
            log.warning("could not ACK device %d up to seq %d: %s", device_id, seq, exc)

    def _set_backpressure(self, reason: str | None) -> None:
        if reason is not None and self._backpressure_reason is None:
            log.warning(
                "back-pressure: no longer ACKing devices, %d readings held in memory: %s",
                self.held_count,
                reason,
            )
        elif reason is None and self._backpressure_reason is not None:
            log.info("back-pressure released: the outbox accepts readings again")
        if (reason is None) != (self._backpressure_reason is None):
            # Signed and sealed like readings: the chain shows when devices were held off.
            self.add_event(Backpressure(reason is not None, reason or ""))
            self.metrics.backpressure.set(0 if reason is None else 1)
            self.publisher.set_status(backpressure=reason is not None, detail=reason or "")
        self._backpressure_reason = reason
        self.metrics.held_readings.set(self.held_count)

    # --- 2. sealing -----------------------------------------------------------------------

    def seal_due(self, *, force: bool = False) -> int:
        """Seal every batch that is due (all pending ones with ``force``); returns how many."""
        sealed = 0
        max_n = self.config.batch.max_readings
        if self._drop_oldest and not force:
            self._expire()
            if self._sealing_paused():
                return 0  # sealed batches are never dropped: the pending ones wait for room
        while self.outbox.pending_count and (force or self.clock.due(self._monotonic())):
            pending = self.outbox.take_pending(max_n)
            announce = self._rotation.announcement(
                takes_all_pending=len(pending) == self.outbox.pending_count
            )
            batch = seal_batch(
                private_key=self._rotation.signer.key.private_key,
                gateway_id=self.gateway_id,
                seq=self._head_seq + 1,
                prev_hash=self._head_hash,
                records=[p.record for p in pending],
                signatures=[p.signature for p in pending],
                first_time_us=min(p.time_us for p in pending),
                last_time_us=max(p.time_us for p in pending),
                next_public_key=announce.public_key if announce else None,
            )
            try:
                stored = self.outbox.commit_batch(
                    batch, pending, next_key_id=announce.key_id if announce else None
                )
            except OutboxFull as exc:
                self._set_backpressure(f"cannot seal: {exc}")
                break
            self._head_seq, self._head_hash = stored.seq, stored.hash
            self.clock.sealed(len(pending))
            self.metrics.batches_sealed.inc()
            self.metrics.chain_seq.set(stored.seq)
            sealed += 1
            self._log_sealed(batch)
            if announce is not None:
                self._rotation.announced(stored.seq)
        if sealed:
            self._update_gauges()
        return sealed

    def _log_sealed(self, batch: SealedBatch) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "sealed batch %d: %d readings, root %s",
                batch.header.seq,
                batch.header.count,
                batch.header.root.hex(),
            )

    # --- 3. publishing --------------------------------------------------------------------

    def pump_publisher(self) -> None:
        result = self.publisher.poll()
        now = self._monotonic()
        if self._verifier_key is None:
            self._forget_on_puback(result)
        else:
            self._track_delivery(result, now)
        if result.rejected:
            self.metrics.batches_rejected.inc(len(result.rejected))
            self._rejections += 1
            delay = min(
                self.config.mqtt.reconnect_max_s,
                self.config.mqtt.reconnect_min_s * 2**self._rejections,
            )
            self._retry_publish_at = now + delay
            self._handed_upto = min(self._handed_upto, min(result.rejected) - 1)
            for seq in result.rejected:
                self.delivery.refused(seq)
        elif result.acked:
            self._rejections = 0
        self.metrics.broker_connected.set(1 if self.publisher.connected else 0)
        if now >= self._retry_publish_at:
            self._hand_over()
        if result.acked or result.rejected or result.verdicts:
            self._update_gauges()

    def _forget_on_puback(self, result: PublishResult) -> None:
        """Legacy mode: the broker's PUBACK is the end of a batch's road."""
        if result.unheard and not self._told_unheard:
            self._told_unheard = True
            log.warning(
                "the broker has no subscriber for batch %d (nobody listens on %s); without "
                "[verifier] public_key the agent forgets it anyway: it is lost",
                result.unheard[0],
                self.publisher.batch_topic,
            )
        if result.acked or self._acked_unrecorded:
            done = self._acked_unrecorded | set(result.acked)
            try:
                removed = self.outbox.mark_published(done)
            except (sqlite3.Error, OutboxFull) as exc:
                # Even a DELETE needs WAL space; keep the PUBACKs and try again next round.
                self._acked_unrecorded = done
                log.warning("cannot forget %d acknowledged batches yet: %s", len(done), exc)
            else:
                self._acked_unrecorded = set()
                self.metrics.batches_published.inc(removed)
                for seq in done:
                    self.delivery.acknowledged(seq)

    def _track_delivery(self, result: PublishResult, now: float) -> None:
        """End-to-end mode: PUBACK -> awaiting verdict; a signed verdict -> forgotten."""
        for seq in result.acked:
            self.delivery.puback(seq, now)
        self.metrics.batches_published.inc(len(result.acked))
        if result.unheard and not self._told_unheard:
            self._told_unheard = True
            log.info(
                "the broker has no subscriber for batch %d (is the verifier down?); "
                "batches are kept and re-published until the verifier acknowledges them",
                result.unheard[0],
            )
        elif result.acked and not result.unheard:
            self._told_unheard = False
        for payload in result.verdicts:
            self._take_verdict(payload)
        for payload in result.resend_requests:
            self._take_resend_request(payload)
        if result.connected:
            # What the broker took before the connection broke may never have reached
            # the verifier (a broker restart drops it); paho resends the rest itself.
            self._republish.update(self.delivery.awaiting())
        self._republish.update(self.delivery.due(now))
        if self._acknowledged:
            try:
                removed = self.outbox.forget_acknowledged(self._acknowledged)
            except (sqlite3.Error, OutboxFull) as exc:
                log.warning(
                    "cannot forget %d acknowledged batches yet: %s", len(self._acknowledged), exc
                )
            else:
                self.metrics.batches_acknowledged.inc(removed)
                self._acknowledged = {}

    def _take_verdict(self, payload: bytes) -> None:
        assert self._verifier_key is not None
        try:
            verdict = open_verdict(payload, self._verifier_key)
        except (EnvelopeError, FormatError) as exc:
            self.metrics.verdicts_refused.inc()
            log.warning("ignored a message on %s: %s", self.publisher.verdict_topic, exc)
            return
        seq = verdict.seq
        stored = self.outbox.batch_hash(seq)
        if verdict.gateway_id != self.gateway_id or (
            stored is not None and stored != verdict.header_hash
        ):
            self.metrics.verdicts_refused.inc()
            log.warning(
                "ignored a signed verdict for gateway %s batch %d with header hash %s: it is "
                "not the batch this gateway holds",
                verdict.gateway_id,
                seq,
                verdict.header_hash.hex(),
            )
            return
        if stored is None or seq in self._acknowledged:
            return  # acknowledged already (a second verdict for a re-sent copy)
        if verdict.outcome.acknowledges:
            self._acknowledged[seq] = verdict.header_hash
            self.delivery.acknowledged(seq)
            self._republish.discard(seq)
        elif (
            verdict.outcome is VerdictOutcome.QUARANTINED and verdict.reason in RETRY_LATER_REASONS
        ):
            # The verifier could not hold it yet: still awaiting, re-sent by the timer
            # and on the verifier's resend request once the chain has caught up.
            log.warning(
                "the verifier could not take batch %d yet (%s); it is re-sent later",
                seq,
                verdict.reason,
            )
        elif verdict.outcome is VerdictOutcome.QUARANTINED:
            self._republish.discard(seq)
            if self.delivery.quarantine(seq):
                log.error(
                    "the verifier QUARANTINED batch %d (%s); it stays in the outbox and is "
                    "not re-sent: an operator must look at the verifier's quarantine",
                    seq,
                    verdict.reason or "no reason given",
                )
                quarantined = self.delivery.quarantined()
                self.metrics.batches_quarantined.set(len(quarantined))
                self.publisher.set_status(quarantined=quarantined)

    def _take_resend_request(self, payload: bytes) -> None:
        assert self._verifier_key is not None
        try:
            request = open_resend_request(payload, self._verifier_key)
        except (EnvelopeError, FormatError) as exc:
            self.metrics.verdicts_refused.inc()
            log.warning("ignored a message on %s: %s", self.publisher.resend_topic, exc)
            return
        if request.gateway_id != self.gateway_id:
            self.metrics.verdicts_refused.inc()
            log.warning("ignored a resend request for gateway %s", request.gateway_id)
            return
        self.metrics.resend_requests.inc()
        held = [
            seq
            for seq in self.outbox.stored_seqs(request.first_seq, request.last_seq)
            if self.delivery.state(seq) is not BatchState.QUARANTINED
        ]
        log.info(
            "the verifier asks for batches %d..%d; re-publishing the %d this gateway holds",
            request.first_seq,
            request.last_seq,
            len(held),
        )
        self._republish.update(held)

    def _hand_over(self) -> None:
        """Give paho batches while the in-flight window has room: those to re-publish
        first, then the next new ones, each in seq order."""
        while self.publisher.connected and self.publisher.has_room and self._republish:
            seq = min(self._republish)
            self._republish.discard(seq)
            if seq > self._handed_upto:
                continue  # not handed yet: goes out in order below
            batch = self.outbox.batch(seq)
            if batch is None or seq in self._acknowledged:
                continue
            if not self.publisher.publish(batch):
                self._republish.add(seq)
                self._retry_publish_at = self._monotonic() + self.config.mqtt.reconnect_min_s
                return
            self.delivery.handed(seq)
            self.metrics.batches_republished.inc()
        while self.publisher.connected and self.publisher.has_room:
            room = self.config.mqtt.max_inflight - self.publisher.inflight
            batches = self.outbox.unpublished(self._handed_upto, room)
            if not batches:
                return
            for b in batches:
                if not self.publisher.publish(b):
                    self._retry_publish_at = self._monotonic() + self.config.mqtt.reconnect_min_s
                    return
                self._handed_upto = b.seq
                self.delivery.handed(b.seq)

    # --- loop -----------------------------------------------------------------------------

    def poll_timeout(self) -> float:
        until_due = self.clock.seconds_until_due(self._monotonic())
        busy = self.publisher.inflight or self._held or self._republish
        base = BUSY_POLL_S if busy else IDLE_POLL_S
        return base if until_due is None else min(base, until_due)

    def step(self, source: EventSource) -> None:
        self.handle_events(source.events(self.poll_timeout()), source)
        self.seal_due()
        self.pump_publisher()

    def run(self, source: EventSource, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step(source)

    def flush(self, source: AckSink, timeout: float) -> bool:
        """Store what is held, seal everything, wait up to ``timeout`` s for PUBACKs."""
        self.store_held(source)
        self.seal_due(force=True)
        deadline = self._monotonic() + timeout
        by = "the broker" if self._verifier_key is None else "the verifier"
        while True:
            self.pump_publisher()
            if self.outbox.batch_count <= self.delivery.count(BatchState.QUARANTINED):
                return True
            if self._monotonic() >= deadline:
                log.warning(
                    "%d batches not yet acknowledged by %s; they stay in the outbox "
                    "and are published after restart",
                    self.outbox.batch_count,
                    by,
                )
                return False
            time.sleep(BUSY_POLL_S)

    # --- store-and-forward policy (outbox.max_bytes, max_age_s, on_full) ---------------------

    @property
    def _drop_oldest(self) -> bool:
        return self.config.outbox.on_full == "drop-oldest"

    def _full_reason(self) -> str | None:
        """Why the outbox counts as full (bytes or age bound), or None."""
        if self.outbox.over_bound:
            return (
                f"outbox holds {self.outbox.stored_bytes} bytes, at its bound of "
                f"{self.outbox.max_bytes} (outbox.max_bytes)"
            )
        max_age_s = self.config.outbox.max_age_s
        if max_age_s > 0:
            oldest = self.outbox.oldest_unsent_us()
            if oldest is not None:
                age_s = (self._wall_us() - oldest) / 1e6
                if age_s >= max_age_s:
                    return (
                        f"the oldest unsent item is {age_s:.1f} s old, at the bound of "
                        f"{max_age_s:g} s (outbox.max_age_s)"
                    )
        return None

    def _sealing_paused(self) -> bool:
        """drop-oldest: sealed batches alone fill the outbox (bytes or age), so sealing
        waits and new readings replace the oldest unsealed ones. Pending readings and
        notices never pause it: sealing them is the only way out."""
        if self.outbox.sealed_bytes() >= self.outbox.max_bytes:
            return True
        max_age_s = self.config.outbox.max_age_s
        oldest = self.outbox.oldest_batch_time_us() if max_age_s > 0 else None
        return oldest is not None and (self._wall_us() - oldest) / 1e6 >= max_age_s

    def _make_room(self, incoming: int) -> None:
        """drop-oldest while full: keep at most one batch of unsealed readings, dropping
        the oldest ones with a signed loss notice naming them."""
        excess = self.outbox.pending_count + incoming - self.config.batch.max_readings
        if excess > 0:
            self._drop(self.outbox.oldest_pending_readings(excess), "the outbox is full")

    def _expire(self) -> None:
        """drop-oldest: unsealed readings older than outbox.max_age_s are dropped."""
        max_age_s = self.config.outbox.max_age_s
        if max_age_s <= 0 or not self.outbox.pending_count:
            return
        before = self._wall_us() - int(max_age_s * 1e6)
        rows = self.outbox.oldest_pending_readings(self.outbox.pending_count, before_us=before)
        if rows:
            self._drop(rows, f"older than outbox.max_age_s = {max_age_s:g} s")

    def _drop(self, rows: Sequence[tuple[int, ReadingRecord]], why: str) -> None:
        """Drop unsealed readings; each run of one boot gets a signed loss notice sealed
        where its first reading was (gateway_policy)."""
        if not rows:
            return
        runs: list[tuple[int, int, int, int, int]] = []  # (row id, device, boot, first, last)
        replaced: list[int] = []
        for row_id, r in rows:
            key = (r.device_id, r.boot_id)
            open_notice = self._open_notices.get(key)
            if (
                not runs
                and open_notice is not None
                and open_notice[2] + 1 == r.device_seq
                and self.outbox.is_pending(open_notice[0])
            ):
                # extends the unsealed notice of the run before it: one notice, rewritten
                replaced.append(open_notice[0])
                runs.append((open_notice[0], *key, open_notice[1], r.device_seq))
                continue
            last = runs[-1] if runs else None
            if (
                last is not None
                and (last[1], last[2]) == (r.device_id, r.boot_id)
                and last[4] + 1 == r.device_seq
            ):
                runs[-1] = (*last[:4], r.device_seq)
            else:
                runs.append((row_id, r.device_id, r.boot_id, r.device_seq, r.device_seq))
        now_us = self._wall_us()
        sign_event = self._rotation.signer.sign_event
        notices = [
            (row_id, sign_event(ReadingsLost(d, b, f, la, LossReason.GATEWAY_POLICY), now_us))
            for row_id, d, b, f, la in runs
        ]
        self.outbox.drop_pending([i for i, _ in rows] + replaced, notices)
        self.metrics.readings_dropped.inc(len(rows))
        for row_id, d, b, f, la in runs:
            self._open_notices[(d, b)] = (row_id, f, la)
        for _, d, b, f, la in runs:
            if self._told_dropping.get((d, b)) == f:
                continue  # the same run growing: said once
            self._told_dropping[(d, b)] = f
            log.warning(
                "outbox on_full = drop-oldest: dropped readings %d..%d of device %d (boot %d), "
                "%s; a signed loss notice names them",
                f,
                la,
                d,
                b,
                why,
            )

    def _update_gauges(self) -> None:
        m = self.metrics
        m.outbox_batches.set(self.outbox.batch_count)
        m.outbox_sending.set(self.delivery.count(BatchState.SENDING))
        m.outbox_awaiting.set(self.delivery.count(BatchState.AWAITING))
        m.outbox_pending.set(self.outbox.pending_count)
        m.outbox_bytes.set(self.outbox.stored_bytes)
        m.held_readings.set(self.held_count)
        now = self._monotonic()
        if now - self._backlog_shown_at < BACKLOG_STATUS_S:
            return  # the age needs two queries: at most once a second, off the hot path
        self._backlog_shown_at = now
        oldest = self.outbox.oldest_unsent_us()
        age_s = 0.0 if oldest is None else max(0.0, (self._wall_us() - oldest) / 1e6)
        m.outbox_oldest_age.set(age_s)
        # The retained status shows the backlog too; rounded so that it changes (and is
        # published again) only when the backlog really moves.
        self.publisher.set_status(
            backlog_batches=self.outbox.batch_count,
            backlog_pending=self.outbox.pending_count,
            backlog_bytes=self.outbox.stored_bytes // 1024 * 1024,
            oldest_unsent_age_s=int(age_s // 10 * 10),
        )
