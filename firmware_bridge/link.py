"""Gateway side of the serial link: one reader thread per port, events to the agent.

``DeviceLinks`` is the contract of docs/architecture.md ("firmware_bridge ->
agent"). Each port has its own thread that opens the port through pyserial's
``serial_for_url`` (device paths, ``loop://``, ``socket://``, ``rfc2217://``),
decodes frames, and reopens the port with exponential backoff when it vanishes
(USB unplug, pty closed). Sequence state lives in one ``SequenceTracker`` shared by
all ports (a device may move between ports), behind a lock held only for the
bookkeeping, never during I/O, so a slow port does not block the others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import serial

from edgeseal.firmware_bridge.auth import ReplayGuard
from edgeseal.firmware_bridge.frame import DROP_REASONS, FrameDecoder, encode_frame
from edgeseal.firmware_bridge.messages import (
    DeviceHello,
    LinkEvent,
    PortStatus,
    Reading,
    ReadingReceived,
    SequenceGap,
)
from edgeseal.firmware_bridge.protocol import (
    Ack,
    Heartbeat,
    Hello,
    HelloRequest,
    Message,
    MessageError,
    Resend,
    TimeSync,
    message_from_frame,
    to_frame,
)
from edgeseal.firmware_bridge.tracker import Actions, Gap, Probe, SequenceTracker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PortConfig:
    """How to open one serial port. ``url`` is anything ``serial.serial_for_url`` takes."""

    url: str
    baudrate: int = 115200
    exclusive: bool = True
    read_timeout: float = 0.02
    write_timeout: float = 1.0
    reopen_initial: float = 0.1
    reopen_max: float = 5.0
    name: str | None = None
    """Label used in events and logs; defaults to ``url``."""

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError(
                "PortConfig.url must name a port, e.g. /dev/ttyUSB0 or socket://host:port"
            )
        if self.baudrate <= 0:
            raise ValueError(f"PortConfig.baudrate must be positive, got {self.baudrate}")
        if self.read_timeout <= 0 or self.write_timeout <= 0:
            raise ValueError("PortConfig read_timeout and write_timeout must be positive")
        if not 0 < self.reopen_initial <= self.reopen_max:
            raise ValueError("PortConfig needs 0 < reopen_initial <= reopen_max")

    @property
    def label(self) -> str:
        return self.name or self.url


@dataclass
class LinkStats:
    """Counters per port, for metrics and tests."""

    frames: int = 0
    bytes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    bad_messages: int = 0
    rejected_auth: int = 0
    duplicates: int = 0
    stale: int = 0
    opens: int = 0


def _explain(exc: BaseException) -> str:
    """Turn pyserial's read errors into what an operator should know."""
    text = str(exc) or type(exc).__name__
    if "returned no data" in text or "Input/output error" in text:
        return "device disconnected (USB unplugged or the other end closed)"
    return text


class _PortWorker:
    def __init__(self, config: PortConfig, links: DeviceLinks) -> None:
        self.config = config
        self.label = config.label
        self._links = links
        self._serial: serial.SerialBase | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._decoder = FrameDecoder()
        self._dropped_before: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.stats = LinkStats()
        # Devices whose port was reopened and that sent no reading since: a ring overflow
        # reported now happened while the link was down (a loss notice's reason).
        self.link_was_down: set[int] = set()
        self._thread = threading.Thread(
            target=self._run, name=f"serial-reader:{self.label}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._close()

    # -- I/O ----------------------------------------------------------------

    def send(self, msg: Message) -> bool:
        data = encode_frame(to_frame(msg))
        with self._write_lock:
            ser = self._serial
            if ser is None:
                return False
            try:
                ser.write(data)
                return True
            except serial.SerialTimeoutException:
                logger.warning("serial port %s: write timed out; device not reading?", self.label)
            except (serial.SerialException, OSError) as exc:
                logger.debug("serial port %s: write failed: %s", self.label, exc)
            return False

    def _open(self) -> serial.SerialBase:
        c = self.config
        return serial.serial_for_url(
            c.url,
            baudrate=c.baudrate,
            timeout=c.read_timeout,
            write_timeout=c.write_timeout,
            exclusive=c.exclusive,
        )

    def _close(self) -> None:
        with self._write_lock:
            ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _run(self) -> None:
        delay = self.config.reopen_initial
        reported_down = False
        while not self._stop.is_set():
            try:
                ser = self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                if not reported_down:
                    reported_down = True
                    self._links._emit(PortStatus(self.label, False, f"cannot open: {exc}"))
                logger.warning(
                    "serial port %s unavailable (%s); retrying in %.1f s", self.label, exc, delay
                )
                self._stop.wait(delay)
                delay = min(delay * 2, self.config.reopen_max)
                continue
            with self._write_lock:
                self._serial = ser
            self.stats.opens += 1
            self._retire_decoder()  # a partial frame from before the reopen is garbage now
            reported_down = False
            delay = self.config.reopen_initial
            logger.info("serial port %s open at %d baud", self.label, self.config.baudrate)
            self._links._emit(PortStatus(self.label, True, "open"))
            self._links._reconnected(self)
            reason = self._read_until_error(ser)
            self._close()
            if self._stop.is_set():
                break
            reported_down = True
            logger.warning(
                "serial port %s vanished (%s); reopening in %.1f s", self.label, reason, delay
            )
            self._links._emit(PortStatus(self.label, False, f"vanished: {reason}"))
            self._stop.wait(delay)
        self._links._emit(PortStatus(self.label, False, "stopped"))

    def _read_until_error(self, ser: serial.SerialBase) -> str:
        next_tick = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self._links._tick_interval
                self._links._tick(self, now)
            try:
                # serial_for_url gives a Serial subclass; the stubs type it as SerialBase
                waiting = int(getattr(ser, "in_waiting", 0))
                data = ser.read(waiting if waiting else 1)
            except (serial.SerialException, OSError) as exc:
                return _explain(exc)
            if data:
                self.stats.bytes += len(data)
                self._handle_bytes(data)
        return "stopped"

    def _handle_bytes(self, data: bytes) -> None:
        links = self._links
        for frame in self._decoder.feed(data):
            self.stats.frames += 1
            why = links._guard.check(frame)
            if why is not None:
                self.stats.rejected_auth += 1
                logger.warning(
                    "serial port %s: dropped frame from device %08x: %s",
                    self.label,
                    frame.device_id,
                    why,
                )
                continue
            try:
                msg = message_from_frame(frame)
            except MessageError as exc:
                self.stats.bad_messages += 1
                logger.warning(
                    "serial port %s: dropped frame from device %08x: %s",
                    self.label,
                    frame.device_id,
                    exc,
                )
                continue
            links._on_message(self, msg)
        self.stats.dropped = {
            k: v + self._decoder.dropped[k] for k, v in self._dropped_before.items()
        }

    def _retire_decoder(self) -> None:
        for k, v in self._decoder.dropped.items():
            self._dropped_before[k] = self._dropped_before.get(k, 0) + v
        self._decoder = FrameDecoder()


class DeviceLinks:
    """All serial ports of a gateway; see the module docstring and docs/architecture.md.

    ``resume_from`` maps (device_id, boot_id) to the last seq the agent stored
    durably before a restart, so those readings are not delivered twice.
    ``link_keys`` maps device_id to a 32-byte HMAC key; such devices must sign
    every frame (firmware_bridge.auth).
    """

    def __init__(
        self,
        ports: Sequence[PortConfig],
        *,
        resume_from: Mapping[tuple[int, int], int] | None = None,
        link_keys: Mapping[int, bytes] | None = None,
        resend_interval: float = 0.2,
    ) -> None:
        labels = [p.label for p in ports]
        if len(set(labels)) != len(labels):
            raise ValueError(f"two ports share a name: {labels}")
        self._events: queue.Queue[LinkEvent] = queue.Queue()
        self._lock = threading.Lock()
        self._tracker = SequenceTracker(
            resume_from=dict(resume_from or {}), resend_interval=resend_interval
        )
        self._guard = ReplayGuard(dict(link_keys or {}))
        self._device_port: dict[int, _PortWorker] = {}
        # Overdue RESEND requests are repeated from the port thread's loop; a
        # read returns at least every read_timeout, so this is the granularity.
        self._tick_interval = 0.005
        self._workers = [_PortWorker(p, self) for p in ports]
        self._started = False

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        if self._started:
            raise RuntimeError("DeviceLinks already started")
        self._started = True
        for w in self._workers:
            w.start()

    def stop(self) -> None:
        if not self._started:
            return
        for w in self._workers:
            w.stop()
        self._started = False

    def __enter__(self) -> DeviceLinks:  # noqa: PYI034 - typing.Self is 3.11+, we support 3.10
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- agent API ------------------------------------------------------------

    def events(self, timeout: float) -> list[LinkEvent]:
        """Events since the last call, in arrival order; waits up to ``timeout`` for one."""
        out: list[LinkEvent] = []
        try:
            out.append(
                self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
            )
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def ack(self, device_id: int, boot_id: int, seq: int) -> None:
        """Cumulative ACK after durable storage of every reading up to ``seq``."""
        with self._lock:
            msg = self._tracker.acked(device_id, boot_id, seq)
            worker = self._device_port.get(device_id)
        if msg is not None and worker is not None:
            worker.send(msg)

    def stats(self) -> dict[str, LinkStats]:
        return {w.label: w.stats for w in self._workers}

    # -- from the port threads ----------------------------------------------

    def _emit(self, event: LinkEvent) -> None:
        self._events.put(event)

    def _on_message(self, worker: _PortWorker, msg: Message) -> None:
        now = time.monotonic()
        with self._lock:
            if isinstance(msg, Reading):
                self._device_port[msg.device_id] = worker
                act = self._tracker.reading(msg, now)
            elif isinstance(msg, Heartbeat):
                self._device_port[msg.device_id] = worker
                act = self._tracker.heartbeat(msg, now)
            elif isinstance(msg, Hello):
                self._device_port[msg.device_id] = worker
                act = self._tracker.hello(msg, now)
            else:
                logger.warning(
                    "serial port %s: device sent a gateway-only %s message; ignored",
                    worker.label,
                    type(msg).__name__,
                )
                return
            # Emit under the lock so events of one device keep their order
            # even if it hops between ports.
            if isinstance(msg, Hello) and not act.stale:
                logger.info(
                    "device %08x on %s: boot %08x, firmware %s",
                    msg.device_id,
                    worker.label,
                    msg.boot_id,
                    msg.firmware_version,
                )
                self._emit(
                    DeviceHello(
                        worker.label,
                        msg.device_id,
                        msg.boot_id,
                        msg.firmware_version,
                        msg.capabilities,
                        msg.public_key,
                        msg.first_seq,
                    )
                )
            self._emit_actions(worker, act)
        worker.stats.duplicates += act.duplicates
        worker.stats.stale += act.stale
        for out in act.send:
            self._send(worker, out)
        if isinstance(msg, Hello) and not act.stale:
            worker.send(TimeSync(msg.device_id, msg.boot_id, int(time.time() * 1000)))

    def _reconnected(self, worker: _PortWorker) -> None:
        now = time.monotonic()
        with self._lock:
            devices = [d for d, w in self._device_port.items() if w is worker]
            worker.link_was_down.update(devices)
            sends = [m for d in devices for m in self._tracker.reconnected(d, now).send]
        for out in sends:
            self._send(worker, out)

    def _tick(self, worker: _PortWorker, now: float) -> None:
        with self._lock:
            devices = [d for d, w in self._device_port.items() if w is worker]
            sends = [m for d in devices for m in self._tracker.tick(d, now).send]
        for out in sends:
            self._send(worker, out)

    def _emit_actions(self, worker: _PortWorker, act: Actions) -> None:
        for ev in act.events:
            if isinstance(ev, Gap):
                reason = ev.reason
                if reason == "device_overflow" and ev.device_id in worker.link_was_down:
                    reason = "link_down"  # overwritten while the port was gone
                logger.warning(
                    "device %08x boot %08x: readings %d..%d lost (device no longer holds them)",
                    ev.device_id,
                    ev.boot_id,
                    ev.expected,
                    ev.received - 1,
                )
                self._emit(
                    SequenceGap(
                        worker.label, ev.device_id, ev.boot_id, ev.expected, ev.received, reason
                    )
                )
            else:
                worker.link_was_down.discard(ev.device_id)
                self._emit(ReadingReceived(worker.label, ev))

    def _send(self, worker: _PortWorker, out: Ack | Resend | Probe) -> None:
        if isinstance(out, Probe):
            worker.send(HelloRequest(out.device_id, out.boot_id))
        else:
            worker.send(out)
