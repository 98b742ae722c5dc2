"""DeviceLinks restarted (an agent restart) against the simulator on a real pty."""

from __future__ import annotations

import time
from pathlib import Path

from linkhelpers import Collected, collect

from edgeseal.firmware_bridge.link import DeviceLinks, PortConfig
from edgeseal.firmware_bridge.messages import SequenceGap
from edgeseal.firmware_bridge.simulate import sim_value
from edgeseal.testing.devices import SimulatorHandle, simulated_device


def _wait_for_record(dev: SimulatorHandle, event: str, after: int, timeout: float = 30.0) -> None:
    """Wait for the simulator to report ``event`` on stdout after its first ``after`` records."""
    end = time.monotonic() + timeout
    while not any(r.get("event") == event for r in dev.records[after:]):
        assert time.monotonic() < end, f"simulator reported no {event!r}: {dev.records[after:]}"
        time.sleep(0.02)


def test_reboot_while_the_gateway_is_stopped_reports_exactly_what_the_device_lost(
    tmp_path: Path,
) -> None:
    """Issue 11, item 3: the device reboots while DeviceLinks is stopped. The restarted
    DeviceLinks, given resume_from as the agent passes it, hears a reading of the new
    boot first, and must still report the old boot's readings the agent never stored:
    exactly those, nothing that arrived, once."""
    link = tmp_path / "ttyRESTART"
    dev_id = 0x31
    with simulated_device(device_id=dev_id, rate=200, seed=21, link=link, heartbeat=1.0) as dev:
        first = Collected()
        with DeviceLinks([PortConfig(str(link), name="first")]) as links:
            collect(links, lambda g: len(g.readings) >= 100, deadline=60, into=first)
        for ev in links.events(0):  # delivered before the stop: the agent stores these too
            first.add(ev)
        old_boot = first.readings[0].boot_id
        stored = [r.seq for r in first.readings]
        assert stored == list(range(1, len(stored) + 1)) and first.gaps == []

        # Nobody listens: the device keeps sampling into its old boot's ring, then reboots.
        time.sleep(0.3)
        n = len(dev.records)
        dev.reboot()
        _wait_for_record(dev, "rebooted", n)
        # A pty keeps what the device wrote while the gateway had it closed, the HELLO
        # of the reboot included; a UART does not. Replug, so that the restarted
        # gateway hears only what the device sends from now on: new readings first,
        # a HELLO at the next heartbeat or when asked for one.
        n = len(dev.records)
        dev.unplug()
        _wait_for_record(dev, "replugged", n)

        resume = {(dev_id, old_boot): stored[-1]}
        with DeviceLinks([PortConfig(str(link), name="second")], resume_from=resume) as links:
            second = collect(
                links,
                lambda g: any(h.boot_id != old_boot for h in g.hellos) and len(g.readings) >= 50,
                deadline=60,
            )
            settle = time.monotonic() + 0.5  # time for a second report of the same loss
            collect(links, lambda g: time.monotonic() > settle, deadline=30, into=second)
        assert dev.stop() == 0
    summary = dev.summary
    assert summary is not None
    old, new = summary["boots"]
    assert old["boot_id"] == old_boot and old["generated"] > stored[-1]
    lost = SequenceGap("second", dev_id, old_boot, stored[-1] + 1, old["generated"] + 1, "rebooted")
    assert second.gaps == [lost]
    assert {r.boot_id for r in second.readings} == {new["boot_id"]}
    assert [r.seq for r in second.readings] == list(range(1, len(second.readings) + 1))
    for r in first.readings + second.readings:
        assert r.mantissa == sim_value(r.boot_id, r.seq)
