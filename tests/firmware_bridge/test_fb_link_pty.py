"""DeviceLinks against the simulator (C core) on real pseudo-terminals."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from linkhelpers import Collected, collect, per_device

from edgeseal.firmware_bridge.frame import FrameDecoder, encode_frame
from edgeseal.firmware_bridge.link import DeviceLinks, PortConfig
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import Ack, Hello, MsgType, message_from_frame, to_frame
from edgeseal.firmware_bridge.simulate import sim_channel, sim_value
from edgeseal.testing.devices import simulated_device


def _check_content(readings: list[Reading], channels: int | tuple[int, ...] = 3) -> None:
    for r in readings:
        assert r.mantissa == sim_value(r.boot_id, r.seq)
        assert r.channel == sim_channel(r.seq, channels)
        assert r.exponent == -2


def test_readings_arrive_once_in_order_with_hello(tmp_path: Path) -> None:
    # Always through a --link symlink in tmp_path: a raw /dev/pts/N path can be
    # reused by another process's pty once the simulator exits, and a reopening
    # DeviceLinks would then grab it.
    with (
        simulated_device(
            device_id=0xD1,
            rate=0,
            count=500,
            exit_when_done=True,
            seed=3,
            firmware="2.5.9",
            link=tmp_path / "tty",
            public_key="ab" * 32,
            channels="5,7,9",
        ) as dev,
        DeviceLinks([PortConfig(dev.port, name="dev1")]) as links,
    ):
        got = collect(links, lambda g: len(g.readings) >= 500, deadline=60)
        assert dev.wait(30) == 0
    assert [r.seq for r in got.readings] == list(range(1, 501))
    _check_content(got.readings, (5, 7, 9))
    assert {r.channel for r in got.readings} == {5, 7, 9}
    assert got.status[0].up and got.status[0].port == "dev1"
    assert got.hellos[0].device_id == 0xD1 and got.hellos[0].firmware_version == "2.5.9"
    assert got.hellos[0].public_key == b"\xab" * 32
    assert got.gaps == []
    summary = dev.summary
    assert summary is not None and summary["boots"][0]["acked"] == 500


def test_unplug_and_replug_loses_nothing(tmp_path: Path) -> None:
    link = tmp_path / "ttyDEV"
    n = 3000
    with (
        simulated_device(
            device_id=5,
            rate=3000,
            count=n,
            link=link,
            exit_when_done=True,
            disconnect_for=0.3,
            seed=4,
        ) as dev,
        DeviceLinks([PortConfig(str(link), reopen_initial=0.05, reopen_max=0.5)]) as links,
    ):
        got = collect(links, lambda g: len(g.readings) >= 500, deadline=60)
        dev.unplug()
        collect(links, lambda g: any(not s.up for s in g.status), deadline=30, into=got)
        collect(links, lambda g: len(g.readings) >= 1500, deadline=60, into=got)
        dev.unplug()
        collect(links, lambda g: len(g.readings) >= n, deadline=60, into=got)
    assert [r.seq for r in got.readings] == list(range(1, n + 1))
    _check_content(got.readings)
    down = [s for s in got.status if not s.up]
    assert len(down) >= 2
    assert "disconnected" in down[0].detail
    assert sum(1 for s in got.status if s.up) >= 3  # opened, and reopened after each unplug


def test_reboot_loses_unsent_readings_and_reports_them_as_gaps(tmp_path: Path) -> None:
    # --reboot-every reboots right after sampling reading N of a boot, before it is
    # sent: those readings die with the device's RAM and must be reported.
    with (
        simulated_device(
            device_id=9, rate=2000, count=600, reboot_every=200, exit_when_done=True, seed=5
        ) as dev,
        DeviceLinks([PortConfig(dev.port)]) as links,
    ):
        got = collect(
            links,
            lambda g: (
                len({h.boot_id for h in g.hellos}) >= 3
                and len(g.gaps) >= 2
                and dev.proc.poll() is not None
            ),
            deadline=90,
        )
    summary = dev.summary
    assert summary is not None
    boots = summary["boots"]
    assert len(boots) == 3 and [b["generated"] for b in boots] == [200, 200, 200]
    for b in boots:
        seqs = [r.seq for r in got.readings if r.boot_id == b["boot_id"]]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
        lost = [
            s for g in got.gaps if g.boot_id == b["boot_id"] for s in range(g.expected, g.received)
        ]
        # Exactly once or reported lost, never both, never neither.
        assert sorted(seqs + lost) == list(range(1, b["generated"] + 1)), b
    assert got.gaps and all(g.boot_id != boots[-1]["boot_id"] for g in got.gaps)
    _check_content(got.readings)


def test_ports_do_not_block_each_other(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-port")
    with (
        simulated_device(
            device_id=1, rate=2000, count=800, exit_when_done=True, seed=6, link=tmp_path / "ttyA"
        ) as a,
        simulated_device(
            device_id=2, rate=2000, count=800, exit_when_done=True, seed=7, link=tmp_path / "ttyB"
        ) as b,
    ):
        ports = [
            PortConfig(a.port, name="a"),
            PortConfig(missing, name="missing", reopen_max=0.2),
            PortConfig(b.port, name="b"),
        ]
        with DeviceLinks(ports) as links:
            got = collect(links, lambda g: len(g.readings) >= 1600, deadline=90)
    for dev in (1, 2):
        assert [r.seq for r in per_device(got.readings, dev)] == list(range(1, 801))
    assert got.ports == {"a", "b"}
    down = [s for s in got.status if s.port == "missing"]
    assert down and not down[0].up and "cannot open" in down[0].detail


def test_socket_url_transport(tmp_path: Path) -> None:
    """serial_for_url: a device behind a TCP serial server (socket://) works the same."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    acks: list[int] = []

    def device() -> None:
        conn, _ = server.accept()
        with conn:
            dec = FrameDecoder()
            # pyserial's socket:// discards what is buffered at open, so announce
            # until the gateway answers (its TIME reply), as firmware would.
            conn.settimeout(0.2)
            while True:
                conn.sendall(encode_frame(to_frame(Hello(77, 3, 1, 1, 0, 0, 0))))
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data or list(dec.feed(data)):
                    break
            for seq in range(1, 21):
                conn.sendall(encode_frame(to_frame(Reading(77, 3, seq, 1, 1, seq, 0, 0, seq))))
            conn.settimeout(10)
            while not acks or acks[-1] < 20:
                data = conn.recv(4096)
                if not data:
                    return
                for f in dec.feed(data):
                    if f.type == MsgType.ACK:
                        ack = message_from_frame(f)
                        assert isinstance(ack, Ack)
                        acks.append(ack.seq)

    t = threading.Thread(target=device, daemon=True)
    t.start()
    try:
        with DeviceLinks([PortConfig(f"socket://127.0.0.1:{port}", exclusive=False)]) as links:
            got = collect(links, lambda g: len(g.readings) >= 20, deadline=30)
            t.join(15)
    finally:
        server.close()
    assert [r.seq for r in got.readings] == list(range(1, 21))
    assert acks and acks[-1] == 20


def test_authenticated_link_accepts_the_right_key_and_rejects_others(tmp_path: Path) -> None:
    key = bytes(range(32))
    with (
        simulated_device(
            device_id=3,
            rate=0,
            count=200,
            exit_when_done=True,
            key=key.hex(),
            seed=8,
            link=tmp_path / "tty8",
        ) as dev,
        DeviceLinks([PortConfig(dev.port)], link_keys={3: key}) as links,
    ):
        got = collect(links, lambda g: len(g.readings) >= 200, deadline=60)
    assert [r.seq for r in got.readings] == list(range(1, 201))

    wrong = bytes(32)
    with (
        simulated_device(
            device_id=3, rate=500, key=key.hex(), seed=9, link=tmp_path / "tty9"
        ) as dev,
        DeviceLinks([PortConfig(dev.port, name="p")], link_keys={3: wrong}) as links,
    ):
        end = time.monotonic() + 30
        seen = Collected()
        while links.stats()["p"].rejected_auth < 20:
            assert time.monotonic() < end, links.stats()
            for ev in links.events(0.2):
                seen.add(ev)
        for ev in links.events(0.1):
            seen.add(ev)
    assert seen.readings == [] and seen.hellos == []

    # A device that should sign but does not is rejected too.
    with (
        simulated_device(device_id=3, rate=500, seed=10, link=tmp_path / "tty10") as dev,
        DeviceLinks([PortConfig(dev.port, name="p")], link_keys={3: key}) as links,
    ):
        end = time.monotonic() + 30
        while links.stats()["p"].rejected_auth < 5:
            assert time.monotonic() < end, links.stats()
            assert not [e for e in links.events(0.2) if not hasattr(e, "up")]


def test_exclusive_access_keeps_a_second_reader_off_the_port(tmp_path: Path) -> None:
    with (
        simulated_device(device_id=4, rate=200, seed=11, link=tmp_path / "tty4") as dev,
        DeviceLinks([PortConfig(dev.port, name="first")]) as first,
    ):
        collect(first, lambda g: len(g.readings) >= 5, deadline=30)
        with DeviceLinks([PortConfig(dev.port, name="second", reopen_max=0.2)]) as second:
            got = collect(second, lambda g: bool(g.status), deadline=30, ack=False)
        assert not got.status[0].up
        assert "lock" in got.status[0].detail
        assert got.readings == []


def test_reboots_on_a_noisy_line_lose_nothing_unreported(tmp_path: Path) -> None:
    """Reboots (SIGUSR1, mid-stream) on a line with 1% bit flips both ways and unplugs:
    per boot, every reading is delivered exactly once in order or reported lost."""
    link = tmp_path / "ttyNOISY"
    with (
        simulated_device(
            device_id=12,
            rate=3000,
            count=8000,
            exit_when_done=True,
            link=link,
            seed=13,
            corrupt=0.01,
            rx_faults=True,
            duplicate=0.01,
            heartbeat=0.1,
            disconnect_every=2.0,
            disconnect_for=0.1,
            start_on_contact=True,
        ) as dev,
        DeviceLinks([PortConfig(str(link), reopen_initial=0.05, reopen_max=0.5)]) as links,
    ):
        got = Collected()
        for n in (1500, 3000, 4500):
            collect(
                links,
                lambda g, n=n: len(g.readings) + sum(x.lost for x in g.gaps) >= n,
                deadline=120,
                into=got,
            )
            dev.reboot()
        collect(links, lambda g: dev.proc.poll() is not None, deadline=180, into=got)
        collect(links, lambda g: True, deadline=1, into=got)  # what was still queued
    summary = dev.summary
    assert summary is not None
    boots = summary["boots"]
    assert len(boots) == 4
    assert sum(b["generated"] for b in boots) == 8000
    for b in boots:
        seqs = [r.seq for r in got.readings if r.boot_id == b["boot_id"]]
        lost = [
            s for g in got.gaps if g.boot_id == b["boot_id"] for s in range(g.expected, g.received)
        ]
        assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), b
        assert not set(seqs) & set(lost), b
        assert sorted(seqs + lost) == list(range(1, b["generated"] + 1)), b
    _check_content(got.readings)
    print(
        f"\nnoisy reboots: {len(got.readings)} delivered, {sum(g.lost for g in got.gaps)} reported "
        f"lost in {len(got.gaps)} gaps over {len(boots)} boots"
    )
