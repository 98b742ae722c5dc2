"""The demo's MQTT broker on a free loopback port: mosquitto when it is installed,
otherwise amqtt (pure Python, MQTT 3.1.1, the ``demo`` extra) inside the demo."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from edgeseal.demo.errors import DemoError
from edgeseal.demo.processes import parent_death_signal, tail
from edgeseal.demo.settings import STARTUP_TIMEOUT_S
from edgeseal.testing.broker import BrokerError, MosquittoBroker, find_mosquitto, free_port

log = logging.getLogger(__name__)


class Broker(Protocol):
    """What the demo needs of a broker."""

    name: str  # for the operator: which broker, and where it came from
    protocol: str  # the MQTT version the agent and verifier use with it: "5" or "3.1.1"
    host: str
    port: int

    def start(self) -> None: ...

    def close(self) -> None: ...


class EmbeddedBroker:
    """amqtt (pure Python, MQTT 3.1.1) on its own event loop in a background thread."""

    name = "embedded amqtt broker (MQTT 3.1.1)"
    protocol = "3.1.1"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="embedded-mqtt-broker", daemon=True
        )
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._broker: Any = None

    def _serve(self) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # noqa: BLE001 - start() raises it in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(STARTUP_TIMEOUT_S) or self._error is not None:
            raise DemoError(
                f"the embedded MQTT broker did not start on {self.host}:{self.port}: "
                f"{self._error or 'timed out'}"
            )

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
            except Exception:  # shutting down anyway; the thread is a daemon
                log.debug("embedded broker shutdown raised", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class _SupervisedMosquitto(MosquittoBroker):
    """MosquittoBroker started like the demo's other children: in its own session (so
    Ctrl-C reaches only the demo, which stops the broker last, after the agent has
    flushed) and with SIGTERM on the demo's death.

    Run as root, mosquitto would switch to its own user, and a change of credentials
    clears the parent-death signal: MosquittoBroker's config already says ``user root``
    then.
    """

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        assert self.executable is not None
        conf = self._write_config()
        with open(self.log_path, "ab") as logfile:
            self._process = subprocess.Popen(
                [self.executable, "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=parent_death_signal(),  # noqa: PLW1509 - see processes.py
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with status {self._process.returncode}; "
                    f"its log: {self.log_path}\n{tail(self.log_path)}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s")


class MosquittoProcess:
    """mosquitto on a free loopback port, under the demo's broker interface."""

    protocol = "5"

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._broker = _SupervisedMosquitto(workdir=workdir)
        self.host, self.port = self._broker.host, self._broker.port
        self.name = f"mosquitto ({self._broker.executable})"

    def start(self) -> None:
        try:
            self._broker.start()
        except BrokerError as exc:
            raise DemoError(str(exc)) from None

    def close(self) -> None:
        self._broker.close()


def _embedded_available() -> bool:
    try:
        import amqtt.broker  # noqa: F401
    except ImportError:
        return False
    return True


def choose_broker(choice: str, workdir: Path) -> MosquittoProcess | EmbeddedBroker:
    """The broker for ``--broker choice`` (not started yet); DemoError if there is none."""
    if choice in ("auto", "mosquitto") and find_mosquitto() is not None:
        return MosquittoProcess(workdir / "broker")
    if choice == "mosquitto":
        raise DemoError(
            "mosquitto is not installed (looked on PATH and in /usr/sbin); install it "
            "with 'apt-get install mosquitto' or run with --broker embedded"
        )
    if not _embedded_available():
        raise DemoError(
            "no MQTT broker: mosquitto is not installed and the embedded broker "
            "(amqtt) is missing; run \"pip install 'edgeseal[demo]'\" or "
            "'apt-get install mosquitto'"
        )
    return EmbeddedBroker()


def why_this_broker(broker: Broker, choice: str) -> str:
    """The note after the broker's name: why the embedded one, if it is that."""
    if not isinstance(broker, EmbeddedBroker):
        return ""
    if choice == "embedded":
        return "  (chosen with --broker embedded)"
    return "  (mosquitto is not installed, so the embedded pure-Python broker is used)"
