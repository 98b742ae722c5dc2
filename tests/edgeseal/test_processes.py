"""edgeseal.testing.processes: ports, waiting for a server, stopping it, with blocks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from edgeseal.testing.processes import (
    Closing,
    Harness,
    Startup,
    accepts_connections,
    find_executable,
    free_port,
    kill_process,
    spawn_logged,
    stop_process,
    wait_until_ready,
)

# A shell that ignores SIGTERM, so only SIGKILL ends it; it says so once it does.
_DEAF = ["sh", "-c", "trap '' TERM; echo deaf; while :; do sleep 0.05; done"]


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_free_port_is_bindable_and_accepts_connections_sees_a_listener() -> None:
    port = free_port()
    assert not accepts_connections("127.0.0.1", port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert accepts_connections("127.0.0.1", port)


def test_wait_until_ready_tells_ready_exited_and_timed_out_apart() -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert wait_until_ready(sleeper, lambda: True, 5.0) is Startup.READY
        assert wait_until_ready(sleeper, lambda: False, 0.2) is Startup.TIMED_OUT
    finally:
        kill_process(sleeper)
    # An exited server is reported as such even when its port would answer.
    quitter = subprocess.Popen(["true"])
    quitter.wait()
    assert wait_until_ready(quitter, lambda: True, 5.0) is Startup.EXITED


def test_stop_process_kills_what_ignores_sigterm_and_closes_pipes() -> None:
    deaf = subprocess.Popen(_DEAF, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert deaf.stdout is not None and deaf.stdout.readline() == b"deaf\n"
    stop_process(deaf, 0.3)
    assert deaf.returncode == -signal.SIGKILL
    assert deaf.stdout.closed
    assert deaf.stderr is not None and deaf.stderr.closed


def test_stop_process_group_ends_the_children_under_a_launcher() -> None:
    # The launcher prints its child's pid and waits; stopping only the launcher
    # would leave the child running.
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess; c = subprocess.Popen(['sleep', '30']); print(c.pid, flush=True); c.wait()",
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert launcher.stdout is not None
    child = int(launcher.stdout.readline())
    stop_process(launcher, 5.0, group=True)
    assert launcher.returncode is not None
    # The child was the launcher's, not ours: poll until the signal has ended it.
    deadline = time.monotonic() + 5.0
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _running(child)


def test_stop_process_leaves_an_exited_process_alone() -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    stop_process(done, 1.0)
    stop_process(done, 1.0, group=True)  # its group is gone: nothing to signal
    assert done.returncode == 0


class _Server(Harness):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def close(self) -> None:
        self.calls.append("close")


class _Made(Closing):
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_harness_starts_on_entry_and_closes_on_exit_even_after_an_error() -> None:
    server = _Server()
    try:
        with server as entered:
            assert entered is server and server.calls == ["start"]
            raise RuntimeError("the body failed")
    except RuntimeError:
        pass
    assert server.calls == ["start", "close"]
    with _Made() as made:
        assert not made.closed
    assert made.closed


def test_find_executable_looks_on_path_then_elsewhere(tmp_path: Path) -> None:
    assert find_executable("sh") is not None
    name = "edgeseal-no-such-server"
    tool = tmp_path / name
    tool.write_text("#!/bin/sh\n")
    assert find_executable(name, [str(tool)]) is None  # not executable
    tool.chmod(0o755)
    assert find_executable(name, [str(tmp_path / "absent"), str(tool)]) == str(tool)


def test_spawn_logged_appends_both_streams_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(b"earlier run\n")
    process = spawn_logged(["sh", "-c", "echo out; echo err >&2; read x || echo no-stdin"], log)
    assert process.wait(10) == 0
    assert log.read_text().splitlines() == ["earlier run", "out", "err", "no-stdin"]
