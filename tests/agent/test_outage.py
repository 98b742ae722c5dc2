"""The real `edgeseal agent` with a simulated device on a pty: broker outage, then
back-pressure when the outbox bound is reached; nothing ACKed is ever lost."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from agent_helpers import (
    Subscriber,
    check_stream,
    make_key,
    persistent_broker,
    restart_keeps_sessions,
    start_agent,
    stream_covers,
    write_config,
)

from edgeseal.testing.broker import MosquittoBroker, free_port
from edgeseal.testing.devices import simulated_device


def scrape(port: int) -> dict[str, float]:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_metric(
    port: int, check: Callable[[dict[str, float]], bool], timeout: float, log: Path
) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(port)
        if (got and check(got)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not got:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
        raise AssertionError(f"the agent's metrics endpoint never answered; agent log:\n{tail}")
    return got


def first_arrivals(arrival: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for s in arrival:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


@pytest.fixture
def mqtt_broker() -> Iterator[MosquittoBroker]:
    """Overrides the shared fixture: these tests restart the broker and need the
    subscriber's session (and its queued batches) to survive, as in production."""
    with persistent_broker() as broker:
        yield broker


def test_broker_outage_then_drain_in_order(tmp_path: Path, mqtt_broker: MosquittoBroker) -> None:
    key = make_key(tmp_path / "gw.key")
    metrics_port = free_port()
    log = tmp_path / "agent.log"
    with (
        Subscriber(mqtt_broker.host, mqtt_broker.port, session_id="outage-sub") as sub,
        simulated_device(device_id=41, rate=200, link=tmp_path / "tty41") as dev,
    ):
        cfg = write_config(
            tmp_path / "agent.toml",
            gateway_id="gw-out",
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=mqtt_broker.port,
            ports=[dev.port],
            max_readings=40,
            metrics_port=metrics_port,
        )
        agent = start_agent(cfg, log)
        try:
            assert wait_metric(
                metrics_port, lambda m: m["edgeseal_agent_batches_published_total"] >= 2, 20, log
            )
            restart_keeps_sessions(mqtt_broker)
            grown = wait_metric(
                metrics_port, lambda m: m["edgeseal_agent_outbox_batches"] >= 10, 20, log
            )
            assert grown["edgeseal_agent_outbox_batches"] >= 10, grown
            assert grown["edgeseal_agent_broker_connected"] == 0
            mqtt_broker.start()
            drained = wait_metric(
                metrics_port, lambda m: m["edgeseal_agent_outbox_batches"] <= 1, 30, log
            )
            assert drained["edgeseal_agent_outbox_batches"] <= 1, drained
        finally:
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(30) == 0
        dev.stop()
        acked = dev.acked_keys()
        payloads = sub.wait_for(
            lambda p: stream_covers(p, key.public_key, gateway_id="gw-out", wanted=acked),
            timeout=15,
        )
    report = check_stream(payloads, key.public_key, gateway_id="gw-out")
    assert acked <= report.reading_keys()
    firsts = first_arrivals(report.arrival_seqs)
    assert firsts == sorted(firsts), "batches arrived out of order"


def test_outbox_bound_stops_acks_then_recovers(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    key = make_key(tmp_path / "gw.key")
    metrics_port = free_port()
    log = tmp_path / "agent.log"
    with (
        Subscriber(mqtt_broker.host, mqtt_broker.port, session_id="bp-sub") as sub,
        simulated_device(device_id=42, rate=400, link=tmp_path / "tty42") as dev,
    ):
        restart_keeps_sessions(mqtt_broker)  # nothing drains: the outbox fills to its bound
        cfg = write_config(
            tmp_path / "agent.toml",
            gateway_id="gw-bp",
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=mqtt_broker.port,
            ports=[dev.port],
            max_bytes=64 * 1024,
            metrics_port=metrics_port,
        )
        agent = start_agent(cfg, log)
        try:
            bp = wait_metric(metrics_port, lambda m: m["edgeseal_agent_backpressure"] == 1, 30, log)
            assert bp["edgeseal_agent_backpressure"] == 1, bp
            signed_at_bound = bp["edgeseal_agent_readings_signed_total"]
            time.sleep(1.0)
            still = scrape(metrics_port)
            assert still["edgeseal_agent_readings_signed_total"] == signed_at_bound
            assert still["edgeseal_agent_outbox_bytes"] >= 64 * 1024
            assert "back-pressure: no longer ACKing devices" in log.read_text()
            assert "cannot connect to MQTT broker" in log.read_text()
            mqtt_broker.start()
            released = wait_metric(
                metrics_port,
                lambda m: (
                    m["edgeseal_agent_backpressure"] == 0
                    and m["edgeseal_agent_readings_signed_total"] > signed_at_bound + 200
                ),
                30,
                log,
            )
            assert released["edgeseal_agent_backpressure"] == 0, released
            agent.send_signal(signal.SIGTERM)
            assert agent.wait(30) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
        dev.stop()
        acked = dev.acked_keys()
        payloads = sub.wait_for(
            lambda p: stream_covers(p, key.public_key, gateway_id="gw-bp", wanted=acked),
            timeout=15,
        )
    report = check_stream(payloads, key.public_key, gateway_id="gw-bp")
    assert acked <= report.reading_keys(), "a reading the device saw ACKed is missing"
    assert "back-pressure released" in log.read_text()
