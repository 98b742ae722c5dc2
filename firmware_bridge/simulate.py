"""``edgeseal simulate-device``: a sensor device on a pseudo-terminal, running the C core.

The device side (retransmit ring, frame encoder, streaming decoder) is the C
reference through cffi (firmware_bridge.core); this module only adds what real
firmware gets from its hardware: a clock, a sampling timer, a UART (the pty
master) and a fault model for the line.

First stdout line: the path the gateway should open (the ``--link`` symlink if
given, else the pty). Later stdout lines are JSON status records; the last one,
written on exit, is ``{"event": "summary", ...}``.

Signals: SIGUSR1 reboots the device (new boot_id, unacknowledged readings lost),
SIGUSR2 unplugs it (the pty is closed and re-created), SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import random
import select
import signal
import sys
import time
import tty
from dataclasses import dataclass
from types import FrameType

from edgeseal.firmware_bridge import core
from edgeseal.firmware_bridge.auth import KEY_LEN
from edgeseal.firmware_bridge.frame import Frame
from edgeseal.firmware_bridge.protocol import (
    CAP_AUTH,
    CAP_TIME_SYNC,
    Heartbeat,
    Hello,
    MsgType,
    to_frame,
)

logger = logging.getLogger(__name__)

OUT_HIGH_WATER = 4096
"""Bytes queued for the UART above which the device stops sending new frames."""


def sim_value(boot_id: int, seq: int) -> int:
    """The mantissa the simulator sends for a seq, so tests can check content end to end."""
    return ((seq * 7919 + boot_id) % 2_000_001) - 1_000_000


def sim_channel(seq: int, channels: int | tuple[int, ...]) -> int:
    """The channel of a seq: round robin over the channel set (an int n means 1..n)."""
    chans = tuple(range(1, channels + 1)) if isinstance(channels, int) else channels
    return chans[(seq - 1) % len(chans)]


def parse_channels(text: str) -> tuple[int, ...]:
    """``--channels``: a count ("3" = channels 1, 2, 3) or a list ("1,4,9")."""
    try:
        if "," in text:
            chans = tuple(int(c, 0) for c in text.split(",") if c.strip())
        else:
            chans = tuple(range(1, int(text, 0) + 1))
    except ValueError:
        raise ValueError(
            f"--channels takes a count or a comma-separated list, got {text!r}"
        ) from None
    if not chans or any(not 0 <= c <= 0xFFFF for c in chans) or len(set(chans)) != len(chans):
        raise ValueError(
            f"--channels must name 1 or more distinct channels in 0..65535, got {text!r}"
        )
    return chans


@dataclass(frozen=True)
class SimConfig:
    device_id: int = 1
    boot_id: int | None = None
    channels: tuple[int, ...] = (1, 2, 3)
    rate: float = 10.0
    count: int | None = None
    link: str | None = None
    corrupt: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    rx_faults: bool = False
    disconnect_every: float = 0.0
    disconnect_for: float = 0.2
    reboot_every: int = 0
    overwrite: bool = False
    heartbeat: float = 0.5
    retransmit_timeout: float = 0.3
    seed: int | None = None
    key: bytes | None = None
    public_key: bytes | None = None
    firmware: tuple[int, int, int] = (1, 0, 0)
    exit_when_done: bool = False
    hello_with_prev: bool = True
    start_on_contact: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.device_id <= 0xFFFFFFFF:
            raise ValueError("device id must fit in u32")
        if not self.channels or any(not 0 <= c <= 0xFFFF for c in self.channels):
            raise ValueError("channels must be 1 or more channel numbers in 0..65535")
        if self.rate < 0:
            raise ValueError("rate must be >= 0 (0 = as fast as the link allows)")
        for name in ("corrupt", "drop", "duplicate"):
            p = getattr(self, name)
            if not 0 <= p < 1:
                raise ValueError(f"--{name} is a probability in [0, 1), got {p}")
        if self.public_key is not None and len(self.public_key) != 32:
            raise ValueError("--public-key must be 32 bytes (64 hex digits)")
        if self.key is not None and len(self.key) != KEY_LEN:
            raise ValueError(f"--key must be {KEY_LEN} bytes ({2 * KEY_LEN} hex digits)")


class LineFaults:
    """Bit flips and dropped bytes at per-byte probabilities, duplicated frames per frame.

    Positions of the next fault are drawn from the geometric distribution, so the
    cost is per fault, not per byte.
    """

    def __init__(self, rng: random.Random, corrupt: float, drop: float, duplicate: float) -> None:
        self._rng = rng
        self._p_corrupt, self._p_drop, self._p_dup = corrupt, drop, duplicate
        self._to_flip = self._gap(corrupt)
        self._to_drop = self._gap(drop)
        self.flipped = self.dropped = self.duplicated = 0

    def _gap(self, p: float) -> float:
        if p <= 0:
            return math.inf
        return math.floor(math.log(1.0 - self._rng.random()) / math.log(1.0 - p))

    def frame(self, data: bytes) -> bytes:
        if self._p_dup and self._rng.random() < self._p_dup:
            self.duplicated += 1
            data = data + data
        return self.bytes(data)

    def bytes(self, data: bytes) -> bytes:
        n = len(data)
        if self._to_flip >= n and self._to_drop >= n:
            self._to_flip -= n
            self._to_drop -= n
            return data
        buf = bytearray(data)
        drops: list[int] = []
        pos = 0
        while self._to_flip < n - pos:
            pos += int(self._to_flip)
            buf[pos] ^= 1 << self._rng.randrange(8)
            self.flipped += 1
            pos += 1
            self._to_flip = self._gap(self._p_corrupt)
        self._to_flip -= n - pos
        pos = 0
        while self._to_drop < n - pos:
            pos += int(self._to_drop)
            drops.append(pos)
            self.dropped += 1
            pos += 1
            self._to_drop = self._gap(self._p_drop)
        self._to_drop -= n - pos
        for i in reversed(drops):
            del buf[i]
        return bytes(buf)


@dataclass
class BootRecord:
    boot_id: int
    generated: int = 0
    acked: int = 0


class SimulatedDevice:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.faults = LineFaults(self.rng, cfg.corrupt, cfg.drop, cfg.duplicate)
        self.rx_faults = LineFaults(random.Random(self.rng.random()), cfg.corrupt, cfg.drop, 0.0)
        self.master = -1
        self.slave = -1
        self.path = ""
        self.out = bytearray()
        self.boots: list[BootRecord] = []
        self.total_generated = 0
        self.auth_counter = int(time.time() * 1_000_000)  # never repeats across runs
        self._reboot_requested = False
        self._unplug_requested = False
        self._stop = False
        self.contact = not cfg.start_on_contact
        self._new_boot(self.cfg.boot_id)

    # -- device state ---------------------------------------------------------

    def _new_boot(self, boot_id: int | None) -> None:
        prev = self.boots[-1] if self.boots else None
        if boot_id is None:
            boot_id = self.rng.getrandbits(32)
            while prev is not None and boot_id == prev.boot_id:
                boot_id = self.rng.getrandbits(32)
        self.boot = BootRecord(boot_id)
        self.boots.append(self.boot)
        self.ring = core.Ring(1)
        self.decoder = core.Decoder()
        self.next_to_send = 1
        self.boot_time = time.monotonic()
        self.clock_offset_ms: int | None = None
        self.hello_confirmed = False  # the gateway answers HELLO with TIME
        self.rto = self.cfg.retransmit_timeout
        self.last_progress = time.monotonic()
        self.prev = prev

    def _uptime_ms(self) -> int:
        return int((time.monotonic() - self.boot_time) * 1000)

    def _frame_bytes(self, frame: Frame) -> bytes:
        if self.cfg.key is not None:
            self.auth_counter += 1
            frame = core.sign_frame(frame, self.cfg.key, self.auth_counter)
        return core.encode_frame(frame)

    def _send(self, frame: Frame) -> None:
        self.out += self.faults.frame(self._frame_bytes(frame))

    def _send_hello(self) -> None:
        caps = CAP_TIME_SYNC | (CAP_AUTH if self.cfg.key is not None else 0)
        prev = self.prev if self.cfg.hello_with_prev else None
        major, minor, patch = self.cfg.firmware
        self._send(
            to_frame(
                Hello(
                    self.cfg.device_id,
                    self.boot.boot_id,
                    self.ring.oldest_seq,
                    major,
                    minor,
                    patch,
                    caps,
                    prev.boot_id if prev else 0,
                    prev.generated if prev else 0,
                    self.cfg.public_key,
                )
            )
        )

    def _send_heartbeat(self) -> None:
        self._send(
            to_frame(
                Heartbeat(
                    self.cfg.device_id,
                    self.boot.boot_id,
                    self.ring.next_seq - 1,
                    self.ring.oldest_seq,
                    self._uptime_ms(),
                )
            )
        )

    def _send_reading(self, seq: int) -> None:
        rd = self.ring.get(seq)
        if rd is None:
            return
        self._send(Frame(MsgType.READING, self.cfg.device_id, self.boot.boot_id, seq, rd.payload()))

    def _generate(self) -> bool:
        seq = self.ring.next_seq
        if self.clock_offset_ms is None:
            kind, when = 0, self._uptime_ms()
        else:
            kind, when = 1, self._uptime_ms() + self.clock_offset_ms
        channels = self.cfg.channels
        ch = sim_channel(seq, channels)
        rd = core.RingReading(ch, 1 + ch % 8, sim_value(self.boot.boot_id, seq), -2, kind, when)
        got = self.ring.push(rd, overwrite=self.cfg.overwrite)
        if got is None:
            return False
        self.boot.generated += 1
        self.total_generated += 1
        self.next_to_send = max(
            self.next_to_send, self.ring.oldest_seq
        )  # overwritten before it was ever sent
        return True

    def _on_frame(self, frame: Frame) -> None:
        if frame.device_id != self.cfg.device_id:
            return  # meant for another device on a shared line
        self.contact = True
        if frame.type == MsgType.HELLO and not frame.payload:
            self._send_hello()  # the gateway missed our HELLO (e.g. port opened late)
            return
        if frame.boot_id != self.boot.boot_id:
            return  # about an earlier boot: that ring is gone
        if frame.type == MsgType.ACK and not frame.payload:
            released = self.ring.ack(frame.seq)
            if released > 0:
                self.boot.acked = frame.seq
                self.rto = self.cfg.retransmit_timeout
                self.last_progress = time.monotonic()
                self.next_to_send = max(self.next_to_send, self.ring.oldest_seq)
        elif frame.type == MsgType.RESEND and len(frame.payload) == 2:
            count = int.from_bytes(frame.payload, "little")
            # The state report first: it tells the gateway which of the
            # requested readings no longer exist.
            self._send_heartbeat()
            if len(self.out) >= OUT_HIGH_WATER:
                return  # UART backlog: the gateway asks again later
            last = min(frame.seq + count, self.ring.next_seq, self.next_to_send)
            for seq in range(max(frame.seq, self.ring.oldest_seq), last):
                self._send_reading(seq)
        elif frame.type == MsgType.TIME and len(frame.payload) == 8:
            unix_ms = int.from_bytes(frame.payload, "little")
            self.clock_offset_ms = unix_ms - self._uptime_ms()
            self.hello_confirmed = True
            self._send_heartbeat()

    # -- the pty ("UART") -------------------------------------------------------

    def _open_pty(self) -> None:
        self.master, self.slave = os.openpty()
        # The device end is raw: no echo, no line discipline touching our bytes.
        tty.setraw(self.master)
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.cfg.link:
            tmp = f"{self.cfg.link}.tmp{os.getpid()}"
            os.symlink(self.path, tmp)
            os.replace(tmp, self.cfg.link)

    def _close_pty(self) -> None:
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1
        self.out.clear()

    def _unplug(self) -> None:
        logger.info("unplugging for %.2f s", self.cfg.disconnect_for)
        self._close_pty()
        if self.cfg.link:
            try:
                os.unlink(self.cfg.link)
            except FileNotFoundError:
                pass
        time.sleep(self.cfg.disconnect_for)
        self._open_pty()
        self._status(event="replugged", path=self.cfg.link or self.path)

    def _status(self, **record: object) -> None:
        print(json.dumps(record), flush=True)

    def summary(self) -> dict[str, object]:
        return {
            "event": "summary",
            "device_id": self.cfg.device_id,
            "generated": self.total_generated,
            "boots": [
                {"boot_id": b.boot_id, "generated": b.generated, "acked": b.acked}
                for b in self.boots
            ],
            "overwritten": self.ring.overwritten,
            "flipped": self.faults.flipped,
            "dropped_bytes": self.faults.dropped,
            "duplicated": self.faults.duplicated,
            "rx_dropped": self.decoder.dropped,
        }

    # -- main loop ----------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            self._reboot_requested = True
        elif signum == signal.SIGUSR2:
            self._unplug_requested = True
        else:
            self._stop = True

    def _reboot(self) -> None:
        logger.info("rebooting: %d unacknowledged readings lost", self.ring.count)
        self._new_boot(None)
        self._status(event="rebooted", boot_id=self.boot.boot_id)
        self._send_hello()

    def run(self) -> int:
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self._open_pty()
        print(self.cfg.link or self.path, flush=True)
        cfg = self.cfg
        interval = 1.0 / cfg.rate if cfg.rate > 0 else 0.0
        now = time.monotonic()
        next_due = now
        next_hb = now + cfg.heartbeat
        next_unplug = now + self._exp(cfg.disconnect_every)
        self._send_hello()
        while not self._stop:
            now = time.monotonic()
            if self._reboot_requested:
                self._reboot_requested = False
                self._reboot()
            if self._unplug_requested or now >= next_unplug:
                self._unplug_requested = False
                self._unplug()
                now = time.monotonic()
                next_unplug = now + self._exp(cfg.disconnect_every)
            # Sample: as many readings as are due, while the ring has room.
            if not self.contact:
                next_due = now
            while (
                self.contact
                and (cfg.count is None or self.total_generated < cfg.count)
                and now >= next_due
            ):
                if not self._generate():
                    next_due = now  # ring full: sampling waits for ACKs, no burst later
                    break
                next_due += interval
                finished = cfg.count is not None and self.total_generated >= cfg.count
                if cfg.reboot_every and self.boot.generated >= cfg.reboot_every and not finished:
                    self._reboot()
                    break
                if interval == 0.0 and len(self.out) >= OUT_HIGH_WATER:
                    break
            # Transmit new readings while the UART queue has room.
            while len(self.out) < OUT_HIGH_WATER and self.next_to_send < self.ring.next_seq:
                self._send_reading(self.next_to_send)
                self.next_to_send += 1
            # Retransmit everything held when ACKs stop making progress.
            if (
                self.ring.count
                and now - self.last_progress >= self.rto
                and len(self.out) < OUT_HIGH_WATER
            ):
                for seq in range(self.ring.oldest_seq, self.next_to_send):
                    self._send_reading(seq)
                self.last_progress = now
                self.rto = min(self.rto * 2, 2.0)
            if now >= next_hb:
                # HELLO carries the previous boot's end: repeat it until the
                # gateway's TIME shows it arrived.
                if not self.hello_confirmed:
                    self._send_hello()
                self._send_heartbeat()
                next_hb = now + cfg.heartbeat
            done = (
                cfg.count is not None and self.total_generated >= cfg.count and self.ring.count == 0
            )
            if done and cfg.exit_when_done and not self.out:
                break
            self._io(now, next_due, next_hb, next_unplug)
        self._status(**self.summary())
        self._close_pty()
        if cfg.link:
            try:
                os.unlink(cfg.link)
            except FileNotFoundError:
                pass
        return 0

    def _exp(self, mean: float) -> float:
        return self.rng.expovariate(1.0 / mean) if mean > 0 else math.inf

    def _io(self, now: float, next_due: float, next_hb: float, next_unplug: float) -> None:
        wake = min(next_hb, next_unplug, self.last_progress + self.rto)
        can_sample = self.cfg.count is None or self.total_generated < self.cfg.count
        if can_sample and self.contact and self.ring.count < core.Ring.SLOTS:
            wake = min(wake, next_due)
        timeout = max(0.0, min(wake - now, 0.05))
        wlist = [self.master] if self.out else []
        try:
            readable, writable, _ = select.select([self.master], wlist, [], timeout)
        except InterruptedError:
            return
        if writable:
            try:
                n = os.write(self.master, self.out[:4096])
                del self.out[:n]
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self.out.clear()  # nobody on the line: bytes vanish like on a real UART
        if readable:
            try:
                data = os.read(self.master, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                time.sleep(0.01)  # no reader on the other end yet (EIO until it opens)
                return
            if self.cfg.rx_faults:
                data = self.rx_faults.bytes(data)
            for frame in self.decoder.feed(data):
                self._on_frame(frame)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device-id", type=lambda s: int(s, 0), default=1, help="u32 device id")
    parser.add_argument(
        "--boot-id", type=lambda s: int(s, 0), default=None, help="first boot id (default random)"
    )
    parser.add_argument(
        "--channels",
        default="3",
        help="channel set: a count (3 = channels 1,2,3) or a list like 1,4,9",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="readings per second over all channels; 0 = as fast as the link allows",
    )
    parser.add_argument("--count", type=int, default=None, help="stop sampling after N readings")
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="exit once --count readings are generated and all acknowledged",
    )
    parser.add_argument(
        "--link", default=None, help="stable symlink to the pty, re-pointed on every (re)plug"
    )
    parser.add_argument("--corrupt", type=float, default=0.0, help="per-byte bit-flip probability")
    parser.add_argument("--drop", type=float, default=0.0, help="per-byte drop probability")
    parser.add_argument(
        "--duplicate", type=float, default=0.0, help="per-frame duplication probability"
    )
    parser.add_argument(
        "--rx-faults",
        action="store_true",
        help="apply --corrupt/--drop to bytes from the gateway too",
    )
    parser.add_argument(
        "--disconnect-every",
        type=float,
        default=0.0,
        help="mean seconds between unplugs (exponential); 0 = never",
    )
    parser.add_argument("--disconnect-for", type=float, default=0.2, help="seconds unplugged")
    parser.add_argument(
        "--reboot-every",
        type=int,
        default=0,
        help="reboot after this many readings per boot; 0 = never",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="when the ring is full, drop the oldest reading instead of pausing sampling",
    )
    parser.add_argument(
        "--start-on-contact",
        action="store_true",
        help="start sampling only once the gateway has sent something (for tests)",
    )
    parser.add_argument("--heartbeat", type=float, default=0.5, help="heartbeat period, seconds")
    parser.add_argument(
        "--retransmit-timeout",
        type=float,
        default=0.3,
        help="resend unacknowledged readings after this many seconds",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed for faults and boot ids"
    )
    parser.add_argument("--key", default=None, help="64 hex digits: sign frames with this link key")
    parser.add_argument(
        "--public-key", default=None, help="64 hex digits: a device public key to announce in HELLO"
    )
    parser.add_argument("--firmware", default="1.0.0", help="firmware version major.minor.patch")


def _config_from(args: argparse.Namespace) -> SimConfig:
    try:
        fw = tuple(int(x) for x in args.firmware.split("."))
        if len(fw) != 3:
            raise ValueError
    except ValueError:
        raise ValueError(f"--firmware must look like 1.2.3, got {args.firmware!r}") from None
    try:
        key = bytes.fromhex(args.key) if args.key else None
        public_key = bytes.fromhex(args.public_key) if args.public_key else None
    except ValueError:
        raise ValueError("--key and --public-key take hex digits") from None
    return SimConfig(
        device_id=args.device_id,
        boot_id=args.boot_id,
        channels=parse_channels(args.channels),
        rate=args.rate,
        count=args.count,
        link=args.link,
        corrupt=args.corrupt,
        drop=args.drop,
        duplicate=args.duplicate,
        rx_faults=args.rx_faults,
        disconnect_every=args.disconnect_every,
        disconnect_for=args.disconnect_for,
        reboot_every=args.reboot_every,
        overwrite=args.overwrite,
        heartbeat=args.heartbeat,
        retransmit_timeout=args.retransmit_timeout,
        seed=args.seed,
        key=key,
        public_key=public_key,
        firmware=(fw[0], fw[1], fw[2]),
        exit_when_done=args.exit_when_done,
        start_on_contact=args.start_on_contact,
    )


def run(args: argparse.Namespace) -> int:
    try:
        cfg = _config_from(args)
    except ValueError as exc:
        print(f"simulate-device: {exc}", file=sys.stderr)
        return 2
    return SimulatedDevice(cfg).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgeseal.firmware_bridge.simulate",
        description="run a simulated sensor device on a pseudo-terminal",
    )
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    configure(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
