"""Shared helpers for the pty/simulator tests of firmware_bridge (not a test module)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgeseal.firmware_bridge.link import DeviceLinks
from edgeseal.firmware_bridge.messages import (
    DeviceHello,
    LinkEvent,
    PortStatus,
    Reading,
    ReadingReceived,
    SequenceGap,
)


@dataclass
class Collected:
    readings: list[Reading] = field(default_factory=list)
    gaps: list[SequenceGap] = field(default_factory=list)
    hellos: list[DeviceHello] = field(default_factory=list)
    status: list[PortStatus] = field(default_factory=list)
    ports: set[str] = field(default_factory=set)

    def add(self, ev: LinkEvent) -> None:
        if isinstance(ev, ReadingReceived):
            self.readings.append(ev.reading)
            self.ports.add(ev.port)
        elif isinstance(ev, SequenceGap):
            self.gaps.append(ev)
        elif isinstance(ev, DeviceHello):
            self.hellos.append(ev)
        elif isinstance(ev, PortStatus):
            self.status.append(ev)


def collect(
    links: DeviceLinks,
    until: Callable[[Collected], bool],
    *,
    deadline: float,
    ack: bool = True,
    into: Collected | None = None,
) -> Collected:
    """Pump events (acking the newest reading of each batch, as the agent does after
    storing) until ``until`` holds or ``deadline`` seconds pass; fails on timeout."""
    got = into or Collected()
    end = time.monotonic() + deadline
    while not until(got):
        if time.monotonic() > end:
            raise AssertionError(
                f"timed out after {deadline} s: {len(got.readings)} readings, {len(got.gaps)} gaps, "
                f"status {got.status[-3:]}, stats {links.stats()}"
            )
        newest: dict[int, Reading] = {}
        for ev in links.events(0.2):
            got.add(ev)
            if isinstance(ev, ReadingReceived):
                newest[ev.reading.device_id] = ev.reading
        if ack:
            for r in newest.values():
                links.ack(r.device_id, r.boot_id, r.seq)
    return got


def per_device(readings: list[Reading], device_id: int) -> list[Reading]:
    return [r for r in readings if r.device_id == device_id]
