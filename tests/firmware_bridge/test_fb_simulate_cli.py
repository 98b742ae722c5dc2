"""The simulator's command line: both entry points, clear errors for bad options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import serial

from edgeseal.firmware_bridge.frame import FrameDecoder
from edgeseal.firmware_bridge.protocol import Hello, message_from_frame

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_edgeseal_subcommand_help_lists_fault_options() -> None:
    run = _run("-m", "edgeseal", "simulate-device", "--help")
    assert run.returncode == 0, run.stderr
    for option in (
        "--corrupt",
        "--drop",
        "--duplicate",
        "--disconnect-every",
        "--reboot-every",
        "--link",
    ):
        assert option in run.stdout


def test_bad_probability_is_a_clear_error() -> None:
    run = _run("-m", "edgeseal", "simulate-device", "--corrupt", "1.5")
    assert run.returncode == 2
    assert "--corrupt is a probability in [0, 1), got 1.5" in run.stderr


def test_bad_key_and_firmware_are_clear_errors() -> None:
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--key", "abcd")
    assert run.returncode == 2 and "--key must be 32 bytes" in run.stderr
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--firmware", "1.x")
    assert run.returncode == 2 and "--firmware must look like 1.2.3" in run.stderr


def test_first_stdout_line_is_an_openable_port_that_speaks_the_protocol(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeseal",
            "simulate-device",
            "--device-id",
            "0x42",
            "--rate",
            "50",
            "--heartbeat",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        dec = FrameDecoder()
        with serial.Serial(path, timeout=0.2) as port:
            # The simulator keeps heartbeating; ask nothing, just listen.
            seen = []
            for _ in range(50):
                seen += [message_from_frame(f) for f in dec.feed(port.read(512))]
                if any(getattr(m, "seq", 0) >= 3 for m in seen):
                    break
        assert all(m.device_id == 0x42 for m in seen)
        assert any(not isinstance(m, Hello) for m in seen)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


def test_bad_public_key_is_a_clear_error() -> None:
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--public-key", "abcd")
    assert run.returncode == 2 and "--public-key must be 32 bytes" in run.stderr
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--key", "zz")
    assert run.returncode == 2 and "take hex digits" in run.stderr


def test_bad_channel_set_is_a_clear_error() -> None:
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--channels", "1,1")
    assert run.returncode == 2 and "distinct channels" in run.stderr
    run = _run("-m", "edgeseal.firmware_bridge.simulate", "--channels", "x")
    assert run.returncode == 2 and "count or a comma-separated list" in run.stderr
