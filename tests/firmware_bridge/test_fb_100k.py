"""The acceptance run: 100k readings over a real pty through a noisy, flaky line.

1% of bytes get a bit flipped (in both directions), 0.1% are dropped, 0.5% of
frames are duplicated, and the device is unplugged at random (about every 3 s);
every reading must arrive exactly once and in order, with its content intact.
Marked slow; bounded by a deadline so a regression fails instead of hanging.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from linkhelpers import collect

from edgeseal.firmware_bridge.link import DeviceLinks, PortConfig
from edgeseal.firmware_bridge.simulate import sim_channel, sim_value
from edgeseal.testing.devices import simulated_device

N = 100_000


@pytest.mark.slow
def test_100k_readings_exactly_once_in_order_over_a_faulty_line(tmp_path: Path) -> None:
    link = tmp_path / "ttySENSOR"
    with (
        simulated_device(
            device_id=0x5E,
            rate=0,
            count=N,
            exit_when_done=True,
            link=link,
            seed=20261125,
            corrupt=0.01,
            drop=0.001,
            duplicate=0.005,
            rx_faults=True,
            disconnect_every=3.0,
            disconnect_for=0.2,
            start_on_contact=True,
        ) as dev,
        DeviceLinks(
            [PortConfig(str(link), name="sensor", reopen_initial=0.05, reopen_max=0.5)]
        ) as links,
    ):
        got = collect(links, lambda g: len(g.readings) >= N, deadline=400)
        assert dev.wait(60) == 0
        stats = links.stats()["sensor"]
    seqs = [r.seq for r in got.readings]
    assert seqs == list(range(1, N + 1))
    boot = got.readings[0].boot_id
    for r in got.readings:
        assert r.boot_id == boot and r.device_id == 0x5E
        assert r.mantissa == sim_value(boot, r.seq) and r.channel == sim_channel(r.seq, 3)
    assert got.gaps == []
    summary = dev.summary
    assert summary is not None
    # The faults really happened (the test would prove nothing on a clean line).
    assert summary["flipped"] > 0.005 * 37 * N
    assert summary["duplicated"] > 0 and summary["dropped_bytes"] > 0
    assert stats.dropped["crc"] + stats.dropped["cobs"] + stats.dropped["short"] > 0.1 * N
    assert stats.duplicates > 0
    print(
        f"\n100k run: {stats.frames} frames, {stats.bytes} bytes, dropped {stats.dropped}, "
        f"duplicates {stats.duplicates}, port opens {stats.opens}; device {summary}"
    )
