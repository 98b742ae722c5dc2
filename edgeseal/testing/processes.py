"""What every test harness does with its server processes and ports (test scaffolding).

A free loopback port, waiting until a freshly started server is ready (or has died),
stopping a server politely and then firmly, and the ``with`` block that starts and
closes a harness. The harnesses in this package (mosquitto, nats-server, ganache,
PostgreSQL, the local TSA, network namespaces) share these so they end their
processes the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11 on


def find_executable(name: str, elsewhere: Sequence[str] = ()) -> str | None:
    """``name`` on PATH, else the first executable of ``elsewhere`` (Debian puts servers
    in /usr/sbin, which is not on every user's PATH), else None."""
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in elsewhere if os.access(path, os.X_OK)), None)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def accepts_connections(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn_logged(argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its stdout and stderr appended to ``log_path`` (read it when
    the server fails) and no stdin."""
    with open(log_path, "ab") as logfile:
        # The child keeps its own copy of the descriptor; ours can close at once.
        return subprocess.Popen(
            list(argv), stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


class Startup(Enum):
    """How waiting for a freshly started server ended."""

    READY = "ready"
    EXITED = "exited"
    TIMED_OUT = "timed out"


def wait_until_ready(
    process: subprocess.Popen[Any],
    ready: Callable[[], bool],
    timeout_s: float,
    interval_s: float = 0.05,
) -> Startup:
    """Ask ``ready()`` every ``interval_s`` until it says yes, ``process`` exits, or
    ``timeout_s`` passes; the caller raises its own error for the last two."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # Exited first: a server that died must not pass for one that is slow.
        if process.poll() is not None:
            return Startup.EXITED
        if ready():
            return Startup.READY
        time.sleep(interval_s)
    return Startup.TIMED_OUT


def _signal(process: subprocess.Popen[Any], signum: int, group: bool) -> None:
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def stop_process(
    process: subprocess.Popen[Any],
    timeout_s: float,
    *,
    group: bool = False,
    kill_timeout_s: float | None = None,
) -> None:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL and wait up to ``kill_timeout_s``
    (None: as long as it takes); then close the pipes we hold to it.

    ``group=True`` signals the process group the process leads (it was started with
    ``start_new_session=True``), so children under a launcher end too, even when the
    launcher itself is gone; without it a process that has exited is left alone.
    """
    try:
        if group or process.poll() is None:
            _signal(process, signal.SIGTERM, group)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal(process, signal.SIGKILL, group)
                process.wait(kill_timeout_s)
    except ProcessLookupError:
        pass  # the whole group is gone already
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def kill_process(process: subprocess.Popen[Any], timeout_s: float | None = None) -> None:
    """SIGKILL, as a crash would (nothing is flushed), and wait up to ``timeout_s``."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout_s)


class Closing(ABC):
    """A ``with`` block that calls ``close()`` at its end (the object is ready when made)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Harness(Closing):
    """A server harness: ``start()`` on entering a ``with`` block, ``close()`` on leaving."""

    @abstractmethod
    def start(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self
