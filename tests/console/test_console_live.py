"""The dashboard during a live run, in a real browser: a simulated device on a
pseudo-terminal -> `edgeseal agent` -> mosquitto -> `edgeseal verifier` serving the
console. The page shows readings arriving while they flow, and a tampered copy of one
of the agent's batches appearing in quarantine."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from console_helpers import TOKEN, save_screenshot
from verifier_builders import config_toml
from verifier_mqtt import ProcessWorker, Publisher, wait_until

from edgeseal.testing.broker import MosquittoBroker, free_port
from edgeseal.testing.devices import simulated_device
from edgeseal.wire.topics import Topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import make_key, start_agent, write_config

GW = "gw-live"


class BatchTap:
    """Keeps the first batch the agent publishes (a plain subscription sees a copy)."""

    def __init__(self, port: int) -> None:
        self.first: bytes | None = None
        self._got = threading.Event()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="console-tap")
        self.client.on_connect = lambda c, *a: c.subscribe(Topics().batch(GW), qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK for the batch topic"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self.first is None:
            self.first = bytes(msg.payload)
            self._got.set()

    def wait(self) -> bytes:
        assert self._got.wait(30), "the agent published no batch"
        assert self.first is not None
        return self.first

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def number(page: Any, selector: str) -> int:
    text = page.inner_text(selector)
    return int(text) if text.isdigit() else -1


def test_dashboard_shows_readings_arriving_and_a_tampered_batch_quarantined(
    browser: Any, mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    key = make_key(tmp_path / "gw.key")
    port = free_port()
    verifier_toml = tmp_path / "verifier.toml"
    verifier_toml.write_text(
        config_toml(tmp_path / "verifier.sqlite", {GW: key.public_key}, port=mqtt_broker.port)
        + f'\n[http]\naddress = "127.0.0.1:{port}"\ntokens = ["{TOKEN}"]\n'
    )
    verifier = ProcessWorker(verifier_toml, "verifier-console", tmp_path / "verifier.log")
    tap = BatchTap(mqtt_broker.port)
    agent = None
    context = browser.new_context()
    try:
        verifier.wait_subscribed()
        assert f"serving the console, API and log on http://127.0.0.1:{port}/" in (
            verifier.log_text()
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{port}/#token={TOKEN}")
        page.wait_for_selector("body[data-refreshes]")
        assert number(page, "#readings-total") == 0

        with simulated_device(device_id=5, rate=100, link=tmp_path / "ttyDEV5") as device:
            config = write_config(
                tmp_path / "agent.toml",
                gateway_id=GW,
                key_path=tmp_path / "gw.key",
                outbox_path=tmp_path / "outbox.sqlite",
                broker_port=mqtt_broker.port,
                ports=[device.port],
                max_readings=50,
                max_delay_s=0.3,
            )
            agent = start_agent(config, tmp_path / "agent.log")
            # Readings arrive: the count grows from one refresh to a later one.
            # (Polled from Python: the console's CSP forbids the eval of wait_for_function.)
            wait_until(lambda: number(page, "#readings-total") > 0, 30, "readings on the page")
            first = number(page, "#readings-total")
            wait_until(lambda: number(page, "#readings-total") > first + 50, 30, "more readings")
            row = page.locator(f"#gateways tr[data-gateway='{GW}']")
            assert row.locator(".state").inner_text() == "live"
            wait_until(lambda: row.locator(".status").inner_text() == "online", 10, "online")
            assert number(page, "#quarantine-total") == 0

            # A copy of the agent's first batch with one bit of a reading signature flipped.
            payload = bytearray(tap.wait())
            payload[-1] ^= 0x01
            publisher = Publisher(mqtt_broker.port, client_id="console-tamperer")
            publisher.publish(Topics().batch(GW), bytes(payload))
            publisher.close()
            wait_until(lambda: number(page, "#quarantine-total") == 1, 15, "the quarantined copy")
            reasons = page.locator("#quarantine-reasons li[data-reason]")
            assert reasons.count() == 1
            reason = reasons.first.get_attribute("data-reason")
            assert reason in ("altered_copy", "bad_reading_signatures"), reason
            latest = page.locator("#quarantine-latest tbody tr").first
            assert GW in latest.inner_text() and reason in latest.inner_text()
            page.wait_for_selector(f"#devices tr[data-device^='{GW}/5/']")
            save_screenshot(page, "console-dashboard.png")
            assert errors == []
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(30) == 0
            device.stop()
    finally:
        context.close()
        tap.close()
        if agent is not None and agent.poll() is None:
            agent.kill()
        assert verifier.stop() == 0, verifier.log_text()[-3000:]
