"""MQTT helpers for the verifier's broker tests: a publisher, a verdict listener,
a verifier worker in a thread or in its own process. All on the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt

from edgeseal.verifier.config import VerifierConfig
from edgeseal.verifier.service import VerifierService
from edgeseal.wire.topics import TopicKind, Topics

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Publisher:
    """Publishes batches with QoS 1 and waits for the broker's PUBACK."""

    def __init__(self, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), f"broker did not acknowledge a publish on {topic}"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class VerdictListener:
    """Collects every verdict published on <prefix>/+/verdict (default edgeseal/v1)."""

    def __init__(
        self, port: int, topics: Topics | None = None, client_id: str = "test-verdicts"
    ) -> None:
        topics = topics if topics is not None else Topics()
        self.verdicts: list[dict] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(
            topics.every_gateway(TopicKind.VERDICT), qos=1
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK for the verdict topic"

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.verdicts.append(json.loads(msg.payload))

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.verdicts)

    def wait_for(self, n: int, timeout: float = 60.0) -> list[dict]:
        wait_until(lambda: len(self.snapshot()) >= n, timeout, f"{n} verdicts")
        return self.snapshot()

    def wait_for_verdicts(self, verdict: str, n: int, timeout: float = 60.0) -> list[dict]:
        """Every verdict so far, once ``n`` of them are ``verdict`` (e.g. "accepted")."""
        wait_until(
            lambda: sum(v["verdict"] == verdict for v in self.snapshot()) >= n,
            timeout,
            f"{n} {verdict} verdicts",
        )
        return self.snapshot()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class ThreadWorker:
    """A VerifierService in a thread of the test process."""

    def __init__(self, config: VerifierConfig) -> None:
        self.service = VerifierService(config, gap_report_interval_s=0.5)
        self.status: int | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"verifier-{config.mqtt.client_id}", daemon=True
        )
        self.thread.start()
        assert self.service.subscribed.wait(60), "the verifier did not subscribe"

    def _run(self) -> None:
        self.status = self.service.run()

    def stop(self) -> int | None:
        self.service.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the verifier did not stop"
        return self.status


class ProcessWorker:
    """``edgeseal verifier`` as a real child process (log to a file)."""

    def __init__(self, config_path: Path, client_id: str, log_path: Path) -> None:
        self.log_path = log_path
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgeseal",
                "verifier",
                "--config",
                str(config_path),
                "--client-id",
                client_id,
                "--log-level",
                "INFO",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_subscribed(self, times: int = 1, timeout: float = 90.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"verifier exited with {self.process.returncode}: {self.log_text()[-3000:]}"
                )
            return self.log_text().count("subscribed to ") >= times

        wait_until(ready, timeout, f"{self.log_path.name} to subscribe")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(20)
        self._log.close()
        return code

    def refusal(self, timeout: float = 60.0) -> str:
        """The log of a worker that must stop by itself with exit status 2 (start-up error)."""
        try:
            assert self.process.wait(timeout) == 2, self.log_text()[-3000:]
        finally:
            if self.process.poll() is None:
                self.kill()  # it did not stop by itself: do not leave it running
            else:
                self.stop()
        return self.log_text()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(20)
        self._log.close()
