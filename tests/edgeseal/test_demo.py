"""`edgeseal demo` runs the real chain (broker, simulated devices, agent, verifier) and
leaves nothing running behind it: after a normal run, after Ctrl-C, and, through
PR_SET_PDEATHSIG, even when the demo itself is killed.

Every process the demo starts has the demo's working directory on its command line
(configs, pty links, the broker's config), which is how the tests find leftovers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edgeseal.demo import EmbeddedBroker
from edgeseal.wire.topics import Topics


def _demo(workdir: Path, *extra: str) -> list[str]:
    # A --workdir given is kept anyway; --keep would keep everything running until Ctrl-C.
    return [sys.executable, "-m", "edgeseal", "demo", "--workdir", str(workdir), *extra]


def _processes_using(path: Path) -> list[str]:
    """Command lines of live processes that mention ``path`` (zombies excluded)."""
    found = []
    needle = str(path).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def _assert_nothing_left(workdir: Path, within: float = 0.0) -> None:
    deadline = time.monotonic() + within
    while True:
        left = _processes_using(workdir)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    assert not left, "processes left behind:\n" + "\n".join(left)


def _number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in:\n{text}"
    return int(match.group(1))


def test_demo_runs_the_chain_and_cleans_up(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        _demo(workdir, "--seconds", "8"), capture_output=True, text=True, timeout=180, check=False
    )
    out = proc.stdout
    assert proc.returncode == 0, f"rc={proc.returncode}\n{out}\n{proc.stderr[-4000:]}"
    assert "broker: mosquitto" in out
    assert re.search(r"^console: http://127\.0\.0\.1:\d+/#token=\S+$", out, re.MULTILINE), out
    # Live progress was shown while it ran (not a terminal: a line every 2 s).
    assert len(re.findall(r"^\[[#-]+\] .* signed +\d+ \| published", out, re.MULTILINE)) >= 3, out
    generated = _number(r"(\d+) readings generated", out)
    signed = _number(r"agent: +(\d+) readings signed", out)
    in_batches = _number(r"batches published \((\d+) readings\)", out)
    accepted = _number(r"verifier: +(\d+) batches accepted", out)
    verified = _number(r"batches accepted \((\d+) readings", out)
    assert generated > 50 and accepted >= 2
    assert signed == in_batches == verified, out  # every signed reading was verified
    assert signed <= generated
    assert "0 quarantined" in out
    assert re.search(r"receipt: +demo-gw/\d+/\d+ .*check-receipt: VALID", out), out
    assert "changed by one is refused" in out
    assert "result: OK" in out
    assert (workdir / "receipt.json").is_file()
    _assert_nothing_left(workdir)


def _wait_for_progress(proc: subprocess.Popen[str], timeout: float = 90.0) -> list[str]:
    """Lines of output up to the first progress line with signed readings."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if re.search(r"signed +[1-9]", line):
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    assert seen.wait(timeout), "no progress seen:\n" + "".join(lines)
    return lines


def test_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        _demo(workdir, "--seconds", "300"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_progress(proc)
        assert len(_processes_using(workdir)) >= 5  # broker, 2 devices, agent, verifier, demo
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 130, proc.stderr.read() if proc.stderr else rc
    _assert_nothing_left(workdir)


def test_killed_demo_takes_its_children_along(tmp_path: Path) -> None:
    """No cleanup code runs after SIGKILL: the kernel's parent-death signal does the job."""
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        _demo(workdir, "--seconds", "300"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait_for_progress(proc)
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_nothing_left(workdir, within=30.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seconds", "0"], "--seconds 0"),
        (["--devices", "0"], "--devices 0"),
        (["--rate", "-1"], "--rate -1"),
    ],
)
def test_bad_arguments_are_refused_clearly(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = subprocess.run(
        _demo(tmp_path / "demo", *argv), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr
    assert not _processes_using(tmp_path / "demo")


def test_a_used_workdir_is_refused(tmp_path: Path) -> None:
    """A previous run's key and stores would not match a new gateway: say so, touch nothing."""
    workdir = tmp_path / "demo"
    workdir.mkdir()
    (workdir / "gateway.key").write_text("from an earlier run")
    proc = subprocess.run(
        _demo(workdir, "--seconds", "1"), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "not an empty directory" in proc.stderr, proc.stderr
    assert (workdir / "gateway.key").read_text() == "from an earlier run"


def test_embedded_broker_carries_qos1_and_stops(tmp_path: Path) -> None:
    broker = EmbeddedBroker()
    broker.start()
    got: list[bytes] = []
    done, subscribed = threading.Event(), threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_subscribe = lambda *_a: subscribed.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        done.set()

    client.on_message = on_message
    try:
        client.connect(broker.host, broker.port)
        client.loop_start()
        client.subscribe(Topics().batch("t"), qos=1)
        assert subscribed.wait(10)
        client.publish(Topics().batch("t"), b"\x00batch", qos=1).wait_for_publish(10)
        assert done.wait(10) and got == [b"\x00batch"]
    finally:
        client.loop_stop()
        client.disconnect()
        broker.close()
    assert not broker._thread.is_alive()
    with pytest.raises(OSError):
        import socket

        socket.create_connection((broker.host, broker.port), timeout=1).close()


def test_demo_on_the_embedded_broker(tmp_path: Path) -> None:
    """The no-mosquitto path: agent and verifier on MQTT 3.1.1, end to end.

    In a working directory whose name the configs' TOML must escape (a quote, a
    backslash) and hold as UTF-8: the demo's f-strings once wrote an invalid verifier.toml
    there.
    """
    workdir = tmp_path / 'demo "quoted" \\back ü✓'
    proc = subprocess.run(
        _demo(workdir, "--seconds", "5", "--broker", "embedded"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"{out}\n{proc.stderr[-4000:]}"
    assert "broker: embedded amqtt broker (MQTT 3.1.1)" in out
    assert _number(r"verifier: +(\d+) batches accepted", out) >= 1
    assert "0 quarantined" in out and "check-receipt: VALID" in out and "result: OK" in out
    assert 'protocol = "3.1.1"' in (workdir / "agent.toml").read_text()
    assert 'protocol = "3.1.1"' in (workdir / "verifier.toml").read_text()
    _assert_nothing_left(workdir)


def test_auto_falls_back_to_the_embedded_broker_without_mosquitto(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where mosquitto cannot be found, "auto" picks the embedded broker."""
    from edgeseal import demo
    from edgeseal.demo import brokers

    monkeypatch.setattr(brokers, "find_mosquitto", lambda: None)
    assert isinstance(demo.choose_broker("auto", tmp_path), EmbeddedBroker)
    with pytest.raises(demo.DemoError, match="mosquitto is not installed"):
        demo.choose_broker("mosquitto", tmp_path)
