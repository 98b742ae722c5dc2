"""Run a private mosquitto broker on a free loopback port (test scaffolding).

Used by the test suite, the benchmarks and ``edgeseal demo``, never by the agent or
the verifier: each user gets its own broker with its own configuration, so nothing
depends on (or disturbs) a system-wide broker.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgeseal.testing.processes import (
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

# free_port lived here first; tests, the demo and the other harnesses import it from here.
__all__ = ["BrokerError", "MosquittoBroker", "find_mosquitto", "free_port"]

log = logging.getLogger(__name__)

# Debian installs the broker in /usr/sbin, which is not on every user's PATH.
_EXTRA_LOCATIONS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(RuntimeError):
    """The broker could not be found or did not start."""


def find_mosquitto() -> str | None:
    return find_executable("mosquitto", _EXTRA_LOCATIONS)


@dataclass
class MosquittoBroker(Harness):
    """A mosquitto process listening on ``host:port``; restartable on the same port.

    ``persistent=True`` keeps the broker's session store across stop/start, as a
    production broker would; the default keeps nothing.
    """

    host: str = "127.0.0.1"
    port: int = 0
    persistent: bool = False
    workdir: Path | None = None
    executable: str | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _own_workdir: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="edgeseal-mosquitto-"))
            self._own_workdir = True
        if self.executable is None:
            self.executable = find_mosquitto()

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        assert self.workdir is not None
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # Batches can be large; the default 256 MiB cap is fine, but queues must
            # not silently drop QoS 1 messages for slow subscribers in tests.
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"persistence {'true' if self.persistent else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # As root mosquitto drops to the 'mosquitto' user, which cannot write its
            # persistence file into our private work directory; stay as we are.
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        if self.executable is None:
            raise BrokerError(
                "mosquitto is not installed (looked on PATH and in /usr/sbin); "
                "install it with 'apt-get install mosquitto'"
            )
        conf = self._write_config()
        process = self._process = spawn_logged([self.executable, "-c", str(conf)], self.log_path)
        match wait_until_ready(process, lambda: accepts_connections(self.host, self.port), timeout):
            case Startup.READY:
                log.debug("mosquitto listening on %s:%d", self.host, self.port)
            case Startup.EXITED:
                raise BrokerError(
                    f"mosquitto exited with status {process.returncode} on port "
                    f"{self.port}; its log: {self.log_path.read_text(errors='replace')[-2000:]}"
                )
            case Startup.TIMED_OUT:
                self.kill()
                raise BrokerError(
                    f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s"
                )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully (SIGTERM), as an operator restarting the broker would."""
        if self._process is None:
            return
        stop_process(self._process, timeout)
        self._process = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crashed broker would."""
        if self._process is None:
            return
        kill_process(self._process)
        self._process = None

    def close(self) -> None:
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
