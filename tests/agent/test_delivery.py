"""End-to-end acknowledgement in the agent (issue 11 items 1, 2, 5): the pipeline with a
real outbox and a real mosquitto, and a stand-in verifier (a paho client) that signs
verdicts and resend requests with a key of the test's choosing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeseal.agent.config import parse_config
from edgeseal.agent.delivery import BatchState
from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import Outbox
from edgeseal.agent.pipeline import Pipeline
from edgeseal.agent.publisher import BatchPublisher
from edgeseal.agent.rotation import KeyPlan
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.resend import ResendRequest
from edgeseal.wire.topics import Topics
from edgeseal.wire.verdict import RETRY_LATER_REASONS, SignedVerdict, VerdictOutcome, sign_verdict

GW = "gw-e2e-ack"


def raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class Acks:
    def ack(self, device_id: int, boot_id: int, seq: int) -> None:
        pass


class StandInVerifier:
    """Receives the gateway's batches and publishes what the test says, signed by ``key``."""

    def __init__(self, port: int) -> None:
        self.topics = Topics()
        self.batches: list[SealedBatch] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="stand-in", protocol=mqtt.MQTTv5
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(self.topics.batch(GW), qos=1)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.batches.append(SealedBatch.from_payload(bytes(msg.payload)))

    def received(self) -> list[SealedBatch]:
        with self._lock:
            return list(self.batches)

    def verdict(
        self, key: Ed25519PrivateKey, batch: SealedBatch, outcome: VerdictOutcome, **kw: object
    ) -> None:
        fields = {
            "outcome": outcome,
            "gateway_id": GW,
            "seq": batch.header.seq,
            "header_hash": batch.hash,
            "issued_us": time.time_ns() // 1000,
        }
        fields.update(kw)
        payload = sign_verdict(SignedVerdict(**fields), key)  # type: ignore[arg-type]
        self.client.publish(self.topics.verdict(GW), payload, qos=1).wait_for_publish(5)

    def resend(self, key: Ed25519PrivateKey, first: int, last: int) -> None:
        request = ResendRequest(GW, first, last, time.time_ns() // 1000)
        self.client.publish(
            self.topics.resend(GW), request.to_payload(key), qos=1
        ).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Agent:
    def __init__(self, tmp_path: Path, port: int, verifier_public: bytes) -> None:
        self.config = parse_config(
            {
                "gateway": {"id": GW, "key_path": str(tmp_path / "unused.key")},
                "batch": {"max_readings": 10, "max_delay_s": 0.05},
                "outbox": {"path": str(tmp_path / "outbox.sqlite")},
                "mqtt": {"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                "verifier": {
                    "public_key": verifier_public.hex(),
                    "republish_min_s": 1.0,
                    "republish_max_s": 1.0,
                },
            },
            base=tmp_path,
            env={},
        )
        self.outbox = Outbox(self.config.outbox.path, gateway_id=GW, max_bytes=2**24)
        self.metrics = AgentMetrics()
        self.publisher = BatchPublisher(self.config.mqtt, GW, link=self.config.verifier)
        self.pipeline = Pipeline(
            config=self.config,
            outbox=self.outbox,
            keys=KeyPlan(GatewayKey.generate(), None),
            publisher=self.publisher,
            metrics=self.metrics,
        )
        self.publisher.start()
        assert self.publisher.wait_connected(10)

    def feed(self, n: int) -> None:
        readings = [
            Reading(3, 77, s, 0, 1, s, -1, 0, s * 10)  # type: ignore[arg-type]
            for s in range(1, n + 1)
        ]
        self.pipeline.handle_readings(readings, Acks())

    def run_for(self, seconds: float, until: object = None) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pipeline.seal_due()
            self.pipeline.pump_publisher()
            if until is not None and until():  # type: ignore[operator]
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.publisher.stop(timeout=1)
        self.metrics.close()
        self.outbox.close()


@pytest.fixture
def verifier_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def agent(
    tmp_path: Path, mqtt_broker: MosquittoBroker, verifier_key: Ed25519PrivateKey
) -> Iterator[Agent]:
    a = Agent(tmp_path, mqtt_broker.port, raw(verifier_key))
    try:
        yield a
    finally:
        a.close()


def test_puback_alone_forgets_nothing_and_a_forged_verdict_neither(
    agent: Agent, mqtt_broker: MosquittoBroker, verifier_key: Ed25519PrivateKey
) -> None:
    stand_in = StandInVerifier(mqtt_broker.port)
    try:
        agent.feed(20)
        assert agent.run_for(10, lambda: len(stand_in.received()) >= 2)
        agent.run_for(0.5)
        assert agent.outbox.batch_count == 2, "a PUBACK made the agent forget a batch"
        assert agent.pipeline.delivery.state(1) is BatchState.AWAITING
        first, second = stand_in.received()[:2]

        forger = Ed25519PrivateKey.generate()
        stand_in.verdict(forger, first, VerdictOutcome.ACCEPTED)  # wrong key
        # the right key, but not the batch the gateway holds
        stand_in.verdict(verifier_key, first, VerdictOutcome.ACCEPTED, header_hash=bytes(32))
        stand_in.verdict(verifier_key, first, VerdictOutcome.ACCEPTED, gateway_id="gw-other")
        agent.run_for(1.5)
        assert agent.outbox.batch_count == 2, "a forged verdict made the agent forget a batch"
        assert agent.metrics.verdicts_refused._value.get() == 3

        stand_in.verdict(verifier_key, first, VerdictOutcome.ACCEPTED)
        stand_in.verdict(verifier_key, second, VerdictOutcome.DUPLICATE)
        assert agent.run_for(5, lambda: agent.outbox.batch_count == 0)
        assert agent.metrics.batches_acknowledged._value.get() == 2
    finally:
        stand_in.close()


def test_unacknowledged_batches_are_republished_and_resend_requests_answered(
    agent: Agent, mqtt_broker: MosquittoBroker, verifier_key: Ed25519PrivateKey
) -> None:
    agent.feed(30)  # three batches; nobody subscribes yet: "no matching subscribers"
    assert agent.run_for(10, lambda: agent.pipeline.delivery.count(BatchState.AWAITING) == 3)
    stand_in = StandInVerifier(mqtt_broker.port)
    try:
        # The timer (1 s) re-publishes all three, in order.
        assert agent.run_for(5, lambda: len(stand_in.received()) >= 3)
        assert [b.header.seq for b in stand_in.received()[:3]] == [1, 2, 3]
        batches = {b.header.seq: b for b in stand_in.received()}
        stand_in.verdict(verifier_key, batches[1], VerdictOutcome.ACCEPTED)
        stand_in.verdict(verifier_key, batches[3], VerdictOutcome.PENDING, reason="gap")
        assert agent.run_for(5, lambda: agent.outbox.batch_count == 2)

        # A forged resend request is ignored; a signed one is answered at once.
        before = len(stand_in.received())
        stand_in.resend(Ed25519PrivateKey.generate(), 2, 2)
        stand_in.resend(verifier_key, 2, 2)
        assert agent.run_for(0.8, lambda: len(stand_in.received()) > before)
        again = [b.header.seq for b in stand_in.received()[before:]]
        assert again[0] == 2

        # Quarantined: kept, alarmed, not re-sent on the timer; later batches still go out.
        stand_in.verdict(verifier_key, batches[2], VerdictOutcome.QUARANTINED, reason="fork")
        assert agent.run_for(3, lambda: agent.metrics.batches_quarantined._value.get() == 1)
        assert agent.outbox.batch_count == 2
        agent.feed(0)
        seen = len(stand_in.received())
        agent.run_for(2.5)
        assert 2 not in [b.header.seq for b in stand_in.received()[seen:]]
        assert 3 in [b.header.seq for b in stand_in.received()[seen:]], "timer stopped"
    finally:
        stand_in.close()


def test_a_batch_the_verifier_could_not_hold_yet_is_re_sent_not_quarantined(
    agent: Agent, mqtt_broker: MosquittoBroker, verifier_key: Ed25519PrivateKey
) -> None:
    # held_limit and too_far_ahead mean "not now": a gateway that stopped re-sending
    # such a batch left a gap the verifier's resend requests could never fill.
    stand_in = StandInVerifier(mqtt_broker.port)
    try:
        agent.feed(10)
        assert agent.run_for(10, lambda: len(stand_in.received()) >= 1)
        first = stand_in.received()[0]
        for reason in sorted(RETRY_LATER_REASONS):
            stand_in.verdict(verifier_key, first, VerdictOutcome.QUARANTINED, reason=reason)
        agent.run_for(0.5)
        assert agent.pipeline.delivery.state(1) is BatchState.AWAITING
        assert agent.metrics.batches_quarantined._value.get() == 0
        seen = len(stand_in.received())
        stand_in.resend(verifier_key, 1, 1)  # the chain caught up: asked, and answered
        assert agent.run_for(2, lambda: len(stand_in.received()) > seen)
        assert stand_in.received()[seen].header.seq == 1
        stand_in.verdict(verifier_key, first, VerdictOutcome.ACCEPTED)
        assert agent.run_for(5, lambda: agent.outbox.batch_count == 0)
    finally:
        stand_in.close()
