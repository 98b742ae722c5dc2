"""SIGKILL the real `edgeseal agent` at random moments while a simulated device streams.

After every restart the agent resumes its chain from the outbox. At the end, every
reading the device saw ACKed (its own report, from the simulator's summary) has
reached a subscriber, the chain has no gap or fork, and the only duplicates are
byte-identical re-sends of a whole batch.

EDGESEAL_CRASH_TRIALS sets the number of kills (default 20); EDGESEAL_CRASH_SEED
replays a run (the seed is printed on failure).
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from agent_helpers import Subscriber, check_stream, make_key, start_agent, write_config

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device

GATEWAY = "gw-crash"


def foreign_holders(port: str, ours: set[int]) -> list[str]:
    """Processes other than ``ours`` that have the device's pty open (from /proc)."""
    target = os.path.realpath(port)
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid in ours:
            continue
        try:
            if any(os.path.realpath(fd) == target for fd in fd_dir.iterdir()):
                cmd = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"pid {pid}: {cmd[:160]}")
        except OSError:
            continue  # the process went away or is not ours to inspect
    return found


def check_no_interference(log_path: Path, port: str, ours: set[int]) -> None:
    """A stale serial reader elsewhere on the machine (e.g. a leaked DeviceLinks reopening
    a /dev/pts path whose number our simulator now has) would ACK our device's readings;
    say so plainly instead of reporting the agent for losing them."""
    if "Could not exclusively lock port" in log_path.read_text(errors="replace"):
        holders = foreign_holders(port, ours)
        raise AssertionError(
            f"another process holds the simulator's pty {os.path.realpath(port)}, so the agent "
            f"cannot open it and that process may ACK its readings: {holders or 'gone already'}"
        )


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    trials = int(os.environ.get("EDGESEAL_CRASH_TRIALS", "20"))
    seed = int(os.environ.get("EDGESEAL_CRASH_SEED", str(random.randrange(2**32))))
    rng = random.Random(seed)
    key = make_key(tmp_path / "gw.key")
    log_path = tmp_path / "agent.log"
    context = f"(seed {seed}; agent log {log_path})"
    with (
        Subscriber(mqtt_broker.host, mqtt_broker.port) as sub,
        simulated_device(device_id=11, rate=400, link=tmp_path / "ttyDEV11", seed=seed) as dev,
    ):
        config = write_config(
            tmp_path / "agent.toml",
            gateway_id=GATEWAY,
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=mqtt_broker.port,
            ports=[dev.port],
            max_readings=32,
            max_delay_s=0.1,
        )
        for trial in range(trials):
            agent = start_agent(config, log_path)
            # From "still importing" to "well into streaming": every stage gets hit.
            time.sleep(rng.uniform(0.2, 1.6))
            agent.send_signal(signal.SIGKILL)
            assert agent.wait(10) == -signal.SIGKILL, (
                f"trial {trial}: agent was not killed {context}"
            )
            check_no_interference(log_path, dev.port, {os.getpid(), dev.proc.pid})
            if trial == trials // 2:
                dev.reboot()  # a new boot_id mid-run: its readings restart at seq 1
        agent = start_agent(config, log_path)
        try:
            time.sleep(1.0)
            assert dev.stop() == 0
            summary = dev.summary
            assert summary is not None, f"simulator wrote no summary {context}"
            wanted = {
                (11, boot["boot_id"], seq)
                for boot in summary["boots"]
                for seq in range(1, boot["acked"] + 1)
            }

            def complete(payloads: list[bytes]) -> bool:
                try:
                    got = check_stream(payloads, key.public_key, gateway_id=GATEWAY)
                except AssertionError:
                    return False  # a batch still in flight leaves a gap for now
                return wanted <= got.reading_keys()

            payloads = sub.wait_for(complete, timeout=60)
        finally:
            agent.send_signal(signal.SIGTERM)
            rc = agent.wait(30)
    assert rc == 0, f"agent did not stop cleanly after SIGTERM {context}"
    check_no_interference(log_path, str(tmp_path / "ttyDEV11"), {os.getpid()})
    report = check_stream(payloads, key.public_key, gateway_id=GATEWAY)
    got = report.reading_keys()
    missing = sorted(wanted - got)
    assert not missing, (
        f"{len(missing)} ACKed readings never arrived, first {missing[:5]} {context}"
    )
    generated = {b["boot_id"]: b["generated"] for b in summary["boots"]}
    assert all(seq <= generated[boot] for _, boot, seq in got), (
        f"a reading nobody generated {context}"
    )
    # Not vacuous: the device streamed across the kills (loose bounds: a loaded CI machine
    # spends much of each short run importing Python modules).
    assert sum(b["acked"] for b in summary["boots"]) >= 10 * trials, f"barely streamed {context}"
    assert len(report.batches) >= trials // 2, context
    # Re-sends arrive only for batches published before a crash and not yet forgotten.
    print(
        f"seed {seed}: {trials} kills, {len(report.batches)} batches, {len(got)} readings, "
        f"{report.resends} exact re-sends"
    )
