"""Test scaffolding: run the device simulator as a real subprocess on a real pty.

Usable from any test suite (the agent's too)::

    from edgeseal.testing.devices import simulated_device

    with simulated_device(device_id=7, rate=200, link=tmp_path / "ttyDEV7") as dev:
        with DeviceLinks([PortConfig(dev.port)]) as links:
            ...
        dev.reboot()       # SIGUSR1: new boot_id, unacknowledged readings lost
        dev.unplug()       # SIGUSR2: pty closed and re-created (follow it via ``link``)
    summary = dev.summary  # the simulator's final JSON record (after the block)

Keyword arguments map to the command-line options of ``python -m
edgeseal.firmware_bridge.simulate`` (``exit_when_done=True`` -> ``--exit-when-done``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class SimulatorHandle:
    proc: subprocess.Popen[str]
    port: str
    """What the gateway opens: the --link symlink if one was given, else the pty path."""
    records: list[dict[str, Any]] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def reboot(self) -> None:
        self.proc.send_signal(signal.SIGUSR1)

    def unplug(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def wait(self, timeout: float | None = None) -> int:
        rc = self.proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        return rc

    @property
    def summary(self) -> dict[str, Any] | None:
        for rec in reversed(self.records):
            if rec.get("event") == "summary":
                return dict(rec)
        return None

    def acked_keys(self) -> set[tuple[int, int, int]]:
        """(device id, boot id, seq) of every reading the gateway ACKed, from the summary
        the simulator writes when it stops: what a test requires the far end to hold."""
        summary = self.summary
        if summary is None:
            raise RuntimeError("the simulator has written no summary yet: stop it first")
        return {
            (int(summary["device_id"]), int(boot["boot_id"]), seq)
            for boot in summary["boots"]
            for seq in range(1, int(boot["acked"]) + 1)
        }


def _collect(stream: IO[str], records: list[dict[str, Any]]) -> None:
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            records.append(json.loads(line))


def simulator_command(**options: Any) -> list[str]:
    cmd = [sys.executable, "-m", "edgeseal.firmware_bridge.simulate"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            cmd.append(flag)
        else:
            cmd += [flag, str(value)]
    return cmd


@contextmanager
def simulated_device(*, start_timeout: float = 30.0, **options: Any) -> Iterator[SimulatorHandle]:
    """Start the simulator, yield its handle once the port exists; always clean up."""
    if isinstance(options.get("link"), Path):
        options["link"] = str(options["link"])
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(
        simulator_command(**options),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready: list[str] = []
        waiter = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        waiter.start()
        waiter.join(start_timeout)
        if not ready or not ready[0].strip():
            raise RuntimeError(
                f"device simulator did not report its port (exit code {proc.poll()})"
            )
        handle = SimulatorHandle(proc, ready[0].strip())
        handle._reader = threading.Thread(
            target=_collect,
            args=(proc.stdout, handle.records),
            name="simulator-stdout",
            daemon=True,
        )
        handle._reader.start()
        yield handle
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
