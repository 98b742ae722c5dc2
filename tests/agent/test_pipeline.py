"""The pipeline in-process against a real broker and a real outbox: outages, back-pressure, metrics."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from agent_helpers import Subscriber, check_stream, persistent_broker, restart_keeps_sessions

from edgeseal.agent.config import AgentConfig, parse_config
from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import Outbox
from edgeseal.agent.pipeline import Pipeline
from edgeseal.agent.publisher import BatchPublisher
from edgeseal.agent.rotation import KeyPlan
from edgeseal.firmware_bridge.messages import (
    DeviceHello,
    PortStatus,
    Reading,
    ReadingReceived,
    SequenceGap,
)
from edgeseal.testing.broker import MosquittoBroker

GW = "gw-pipe"


class RecordingAcks:
    """Stands in for the device side of DeviceLinks.ack: remembers the cumulative ACKs."""

    def __init__(self) -> None:
        self.acked: dict[tuple[int, int], int] = {}

    def ack(self, device_id: int, boot_id: int, seq: int) -> None:
        key = (device_id, boot_id)
        assert seq >= self.acked.get(key, 0), "cumulative ACKs must not go backwards"
        self.acked[key] = seq


def make_config(tmp_path: Path, port: int, **outbox: object) -> AgentConfig:
    data = {
        "gateway": {"id": GW, "key_path": str(tmp_path / "unused.key")},
        "batch": {"max_readings": 20, "max_delay_s": 0.05},
        "outbox": {"path": str(tmp_path / "outbox.sqlite"), **outbox},
        "mqtt": {"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "max_inflight": 4},
    }
    return parse_config(data, base=tmp_path, env={})


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        broker: MosquittoBroker,
        max_file_bytes: int | None = None,
        **outbox: object,
    ) -> None:
        self.config = make_config(tmp_path, broker.port, **outbox)
        self.key = GatewayKey.generate()
        self.outbox = Outbox(
            self.config.outbox.path,
            gateway_id=GW,
            max_bytes=self.config.outbox.max_bytes,
            max_file_bytes=max_file_bytes,
            reserve_bytes=32 * 1024,
        )
        self.metrics = AgentMetrics()
        self.publisher = BatchPublisher(self.config.mqtt, GW)
        self.pipeline = Pipeline(
            config=self.config,
            outbox=self.outbox,
            keys=KeyPlan(self.key, None),
            publisher=self.publisher,
            metrics=self.metrics,
        )
        self.acks = RecordingAcks()
        self.next_seq = 1

    def feed(self, n: int) -> None:
        readings = [
            Reading(
                device_id=3,
                boot_id=77,
                seq=s,
                channel=s % 4,
                unit=1,
                mantissa=s,
                exponent=-1,
                time_kind=0,
                device_time_ms=s * 10,
            )
            for s in range(self.next_seq, self.next_seq + n)
        ]
        self.next_seq += n
        self.pipeline.handle_readings(readings, self.acks)

    def step(self, rounds: int = 1) -> None:
        for _ in range(rounds):
            self.pipeline.seal_due()
            self.pipeline.pump_publisher()
            time.sleep(0.02)

    def run_until(self, predicate: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pipeline.store_held(self.acks)
            self.step()
            if predicate():  # type: ignore[operator]
                return True
        return False

    def close(self) -> None:
        self.publisher.stop(timeout=1)
        self.metrics.close()
        self.outbox.close()


@pytest.fixture
def harness(tmp_path: Path, mqtt_broker: MosquittoBroker) -> Iterator[Harness]:
    h = Harness(tmp_path, mqtt_broker)
    try:
        yield h
    finally:
        h.close()


def test_link_events_are_taken_by_kind(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    def reading(seq: int) -> Reading:
        return Reading(
            device_id=9,
            boot_id=4,
            seq=seq,
            channel=0,
            unit=1,
            mantissa=seq,
            exponent=0,
            time_kind=0,
            device_time_ms=seq,
        )

    m = harness.metrics
    with caplog.at_level(logging.INFO, logger="edgeseal.agent.pipeline"):
        harness.pipeline.handle_events(
            [
                PortStatus("ttyA", True, "open"),
                DeviceHello("ttyA", 9, 4, "1.2.3", 0, None, 1),
                ReadingReceived("ttyA", reading(1)),
                SequenceGap("ttyA", 9, 4, 2, 5),  # 2, 3 and 4 are lost
                ReadingReceived("ttyA", reading(5)),
                PortStatus("ttyA", False, "vanished"),
            ],
            harness.acks,
        )
    assert harness.acks.acked == {(9, 4): 5}
    # 2 readings and 2 signed events: device boot, loss notice 2..4
    assert harness.outbox.pending_count == 4
    assert m.readings_received._value.get() == 2 and m.readings_signed._value.get() == 2
    assert m.readings_lost._value.get() == 3
    assert m.serial_errors._value.get() == 1
    text = caplog.text
    assert "serial port ttyA is up: open" in text and "serial port ttyA is down: vanished" in text
    assert "device 9 on ttyA booted (boot 4, firmware 1.2.3, first seq 1)" in text
    assert "lost readings 2..4 for good" in text

    # Only something that is not a LinkEvent reaches the end of the match (mypy rules it out).
    with pytest.raises(AssertionError, match="unhandled link event"):
        harness.pipeline.handle_events([object()], harness.acks)  # type: ignore[list-item]


def first_arrivals_in_order(arrival: list[int]) -> bool:
    seen: set[int] = set()
    firsts = [s for s in arrival if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]
    return firsts == sorted(firsts)


def test_broker_outage_grows_outbox_then_drains_in_order(tmp_path: Path) -> None:
    # A persistent broker keeps the subscriber's session across the restart, as production would.
    with persistent_broker() as broker:
        outage_then_drain(tmp_path, broker)


def outage_then_drain(tmp_path: Path, mqtt_broker: MosquittoBroker) -> None:
    sub = Subscriber(mqtt_broker.host, mqtt_broker.port, session_id="edgeseal-outage-sub")
    sub.__enter__()
    h = Harness(tmp_path, mqtt_broker)
    try:
        h.publisher.start()
        assert h.publisher.wait_connected(10)
        h.feed(100)
        assert h.run_until(lambda: h.outbox.batch_count == 0 and h.outbox.pending_count == 0, 20)
        published_before = h.metrics.batches_published._value.get()
        assert published_before == 5

        restart_keeps_sessions(mqtt_broker)
        assert h.run_until(lambda: not h.publisher.connected, 10)
        sizes = []
        for _ in range(6):
            h.feed(50)
            h.run_until(lambda: h.outbox.pending_count == 0, 2)
            sizes.append(h.outbox.batch_count)
        assert sizes == sorted(sizes) and sizes[-1] >= 15, f"outbox did not grow: {sizes}"
        assert h.metrics.batches_published._value.get() == published_before
        assert h.metrics.broker_connected._value.get() == 0
        assert h.acks.acked[(3, 77)] == 400, (
            "stored readings are ACKed even while the broker is away"
        )

        mqtt_broker.start()
        assert h.run_until(lambda: h.outbox.batch_count == 0, 30), "outbox did not drain"
        total = h.outbox.chain_head().seq
        payloads = sub.wait_for(lambda p: len(set(p)) >= total, timeout=20)
    finally:
        h.close()
        sub.client.loop_stop()
        sub.client.disconnect()
    report = check_stream(payloads, h.key.public_key, gateway_id=GW)
    assert len(report.batches) == total >= 20
    assert {r.device_seq for r in report.readings} == set(range(1, 401))
    assert first_arrivals_in_order(report.arrival_seqs), report.arrival_seqs


def test_outbox_bound_applies_backpressure_and_drops_nothing(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    h = Harness(tmp_path, mqtt_broker, max_bytes=64 * 1024)
    try:
        with Subscriber(mqtt_broker.host, mqtt_broker.port) as sub:
            h.publisher.start()
            assert h.publisher.wait_connected(10)
            # Seal but do not publish: the outbox fills up to its bound.
            while not h.pipeline.backpressure:
                h.feed(20)
                h.pipeline.seal_due(force=True)
            acked_at_bound = h.acks.acked[(3, 77)]
            for _ in range(10):
                h.feed(20)  # the devices keep talking; nothing is stored or ACKed now
                h.pipeline.seal_due(force=True)
            assert h.acks.acked[(3, 77)] == acked_at_bound
            assert h.pipeline.held_count == h.next_seq - 1 - acked_at_bound >= 200
            assert h.metrics.backpressure._value.get() == 1
            assert h.metrics.held_readings._value.get() == h.pipeline.held_count
            # The retained status says so too.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                json.loads(s).get("backpressure") for s in sub.statuses
            ):
                time.sleep(0.05)
            assert any(json.loads(s).get("backpressure") for s in sub.statuses), sub.statuses

            # Publishing frees the outbox: held readings are stored, then ACKed.
            total = h.next_seq - 1
            assert h.run_until(
                lambda: (
                    h.pipeline.held_count == 0
                    and h.outbox.pending_count == 0
                    and h.outbox.batch_count == 0
                ),
                30,
            )
            assert not h.pipeline.backpressure
            assert h.acks.acked[(3, 77)] == total
            payloads = sub.wait_for(
                lambda p: sum(SealedCount.of(x) for x in p) >= total, timeout=10
            )
    finally:
        h.close()
    report = check_stream(payloads, h.key.public_key, gateway_id=GW)
    assert [r.device_seq for r in report.readings] == list(range(1, total + 1))


class SealedCount:
    @staticmethod
    def of(payload: bytes) -> int:
        from edgeseal.wire.batch import SealedBatch

        return SealedBatch.from_payload(payload).header.count


def test_duplicates_after_restart_are_acked_not_stored(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    h = Harness(tmp_path, mqtt_broker)
    try:
        h.feed(30)
        assert h.acks.acked[(3, 77)] == 30
    finally:
        h.close()
    # "Restart": a new pipeline over the same outbox; the device resends 21..40.
    h2 = Harness(tmp_path, mqtt_broker)
    try:
        h2.next_seq = 21
        h2.feed(20)
        assert h2.acks.acked[(3, 77)] == 40
        assert h2.metrics.readings_duplicate._value.get() == 10
        assert h2.outbox.pending_count == 40
    finally:
        h2.close()


def test_metrics_endpoint_serves_the_private_registry(harness: Harness) -> None:
    port = harness.metrics.serve(0)
    harness.feed(25)
    harness.pipeline.seal_due(force=True)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    assert values["edgeseal_agent_readings_received_total"] == 25
    assert values["edgeseal_agent_readings_signed_total"] == 25
    assert values["edgeseal_agent_batches_sealed_total"] == 2
    assert values["edgeseal_agent_outbox_batches"] == 2
    assert values["edgeseal_agent_backpressure"] == 0
    # A second instance has its own registry: no "duplicated timeseries" error.
    other = AgentMetrics()
    assert other.registry is not harness.metrics.registry


def test_replace_is_frozen_config(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, 1883)
    with pytest.raises(AttributeError):
        cfg.batch.max_readings = 5  # type: ignore[misc]
    assert replace(cfg.batch, max_readings=5).max_readings == 5


def test_mqtt_311_is_selectable(tmp_path: Path, mqtt_broker: MosquittoBroker) -> None:
    h = Harness(tmp_path, mqtt_broker)
    h.publisher.stop(timeout=0.1)
    h.publisher = BatchPublisher(replace(h.config.mqtt, protocol="3.1.1"), GW)
    h.pipeline.publisher = h.publisher
    try:
        with Subscriber(mqtt_broker.host, mqtt_broker.port) as sub:
            h.publisher.start()
            assert h.publisher.wait_connected(10)
            assert h.publisher._client.protocol == mqtt.MQTTv311
            h.feed(45)
            assert h.run_until(
                lambda: h.outbox.batch_count == 0 and h.outbox.pending_count == 0, 20
            )
            payloads = sub.wait_for(lambda p: len(p) >= 3, timeout=10)
    finally:
        h.close()
    report = check_stream(payloads, h.key.public_key, gateway_id=GW)
    assert [r.device_seq for r in report.readings] == list(range(1, 46))


def test_full_disk_is_backpressure_not_a_crash(
    tmp_path: Path, mqtt_broker: MosquittoBroker
) -> None:
    # The file cap makes SQLite itself fail with "database or disk is full", as a full
    # file system does; the configured bound (max_bytes) is far away.
    h = Harness(tmp_path, mqtt_broker, max_file_bytes=256 * 1024, max_bytes=1 << 30)
    try:
        with Subscriber(mqtt_broker.host, mqtt_broker.port) as sub:
            h.publisher.start()
            assert h.publisher.wait_connected(10)
            while not h.pipeline.backpressure:
                h.feed(20)
                h.pipeline.seal_due(force=True)
                assert h.next_seq < 20_000, "the file cap never filled the database"
            acked_at_full = h.acks.acked[(3, 77)]
            assert h.pipeline.held_count > 0
            assert h.outbox.pending_count == 0, "the reserve lets sealing go on"
            assert not h.outbox.has_reserve
            assert h.metrics.backpressure._value.get() == 1
            total = h.next_seq - 1
            # Publishing frees pages; the held readings go in and are ACKed.
            assert h.run_until(
                lambda: (
                    h.pipeline.held_count == 0
                    and h.outbox.pending_count == 0
                    and h.outbox.batch_count == 0
                ),
                40,
            )
            assert h.acks.acked[(3, 77)] == total > acked_at_full
            payloads = sub.wait_for(lambda p: len(set(p)) >= h.outbox.chain_head().seq, timeout=10)
    finally:
        h.close()
    report = check_stream(payloads, h.key.public_key, gateway_id=GW)
    assert [r.device_seq for r in report.readings] == list(range(1, total + 1))


class AclBroker(MosquittoBroker):
    """The shared broker helper with an ACL file; ``deny_batches`` forbids publishing batches."""

    deny_batches: bool = True

    def _write_config(self) -> Path:
        assert self.workdir is not None
        acl = self.workdir / "acl"
        batch_rule = "read" if self.deny_batches else "readwrite"
        acl.write_text(
            f"topic readwrite edgeseal/v1/+/status\ntopic {batch_rule} edgeseal/v1/+/batch\n",
            encoding="utf-8",
        )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    "user root",  # see test_tls.py: the files live in pytest's private tmp
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    f"acl_file {acl}",
                    "persistence false",
                    "log_dest stderr",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        return conf


def test_batches_refused_by_the_broker_stay_and_are_retried(tmp_path: Path) -> None:
    broker = AclBroker(workdir=tmp_path / "aclbroker")
    broker.workdir.mkdir()  # type: ignore[union-attr]
    broker.start()
    h = Harness(tmp_path, broker)
    try:
        with Subscriber(broker.host, broker.port) as sub:
            h.publisher.start()
            assert h.publisher.wait_connected(10)
            h.feed(60)
            assert h.run_until(lambda: h.metrics.batches_rejected._value.get() >= 3, 10)
            assert h.outbox.batch_count == 3 and h.metrics.batches_published._value.get() == 0
            broker.deny_batches = False
            broker.stop()
            deadline = time.monotonic() + 10
            while sub._subscribed.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)  # the subscriber notices the restart
            broker.start()
            # Only the pipeline re-hands refused batches (paho forgets a refused message),
            # so nothing is published before the subscriber is back.
            assert sub.wait_subscribed(10)
            assert h.run_until(lambda: h.outbox.batch_count == 0, 30), "refused batches not retried"
            payloads = sub.wait_for(lambda p: len(set(p)) >= 3, timeout=10)
    finally:
        h.close()
        broker.close()
    report = check_stream(payloads, h.key.public_key, gateway_id=GW)
    assert [r.device_seq for r in report.readings] == list(range(1, 61))
    assert first_arrivals_in_order(report.arrival_seqs)
