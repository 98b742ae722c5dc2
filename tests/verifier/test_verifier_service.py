"""The verifier service on a real mosquitto: batches in, verdicts out, nothing lost.

The worker runs in a thread of the test process here (fast to start); the crash
and scale-out tests run real processes (test_verifier_workers.py).
"""

from __future__ import annotations

import random
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verifier_builders import GatewayChain, batch_topic, reading, seal, verifier_config
from verifier_mqtt import Publisher, ThreadWorker, VerdictListener, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.verifier.store import VerifierStore


def by_hash(verdicts: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for v in verdicts:
        out.setdefault(v["header_hash"], []).append(v)
    return out


def test_batches_from_two_gateways_are_verified_and_stored_once(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gws = [GatewayChain("gw-a"), GatewayChain("gw-b", device_id=9)]
    config = verifier_config(
        tmp_path / "v.sqlite", {g.gateway_id: g.enrolled_key for g in gws}, port=mqtt_broker.port
    )
    listener = VerdictListener(mqtt_broker.port)
    worker = ThreadWorker(config)
    pub = Publisher(mqtt_broker.port)
    try:
        batches = [(g.gateway_id, b) for g in gws for b in g.batches(6, n=10)]
        # Within each gateway swap two neighbours: the verifier must hold and release.
        batches[2], batches[3] = batches[3], batches[2]
        for gw_id, b in batches:
            pub.publish(batch_topic(gw_id), b.to_payload())
        verdicts = listener.wait_for(12 + 1)  # 12 accepted + one "pending" for the early batch
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 120, 30, "120 stored readings")
            assert store.quarantined() == [] and store.gaps() == []
            assert [s for _g, s, _h in store.accepted_batches("gw-a")] == [1, 2, 3, 4, 5, 6]
        accepted = [v for v in verdicts if v["verdict"] == "accepted"]
        assert len(accepted) == 12
        assert all(len(vs) == 1 for vs in by_hash(accepted).values())
        pending = [v for v in verdicts if v["verdict"] == "pending"]
        assert [(v["gateway_id"], v["seq"], v["waiting_for"]) for v in pending] == [("gw-a", 4, 3)]
    finally:
        pub.close()
        assert worker.stop() == 0
        listener.close()


def test_tampered_batches_through_the_broker_are_quarantined_and_the_service_keeps_running(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain("gw-t")
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-t": gw.enrolled_key}, port=mqtt_broker.port
    )
    listener = VerdictListener(mqtt_broker.port)
    worker = ThreadWorker(config)
    pub = Publisher(mqtt_broker.port)
    topic = batch_topic("gw-t")
    rng = random.Random(5)
    try:
        b1, b2, b3, b4 = gw.batches(4, n=5)
        pub.publish(topic, b1.to_payload())
        sent: list[tuple[str, bytes, set[str]]] = []
        payload = b2.to_payload()
        for _ in range(12):  # a sample of single-bit flips of batch 2
            flipped = bytearray(payload)
            bit = rng.randrange(len(payload) * 8)
            flipped[bit // 8] ^= 1 << (bit % 8)
            sent.append(
                (
                    f"bit {bit}",
                    bytes(flipped),
                    {
                        "malformed",
                        "bad_header_signature",
                        "bad_reading_signatures",
                        "unknown_key",
                    },
                )
            )
        sent.append(("garbage", b"\xff" * 40, {"malformed"}))
        stranger = GatewayChain("gw-t", key=Ed25519PrivateKey.generate())
        sent.append(("unenrolled key", stranger.next_batch().to_payload(), {"unknown_key"}))
        sent.append(
            (
                "replayed reading",
                seal(gw.key, "gw-t", 2, b1.hash, [reading("gw-t", 0)]).to_payload(),
                {"replay"},
            )
        )
        for _what, p, _ok in sent:
            pub.publish(topic, p)
        pub.publish(batch_topic("gw-unknown"), b2.to_payload())
        # Reordered and re-sent: 4 before 3 before 2, then 1 again.
        for b in (b4, b3, b2, b1):
            pub.publish(topic, b.to_payload())
        verdicts = listener.wait_for(1 + len(sent) + 1 + 2 + 3 + 1)
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 20, 30, "the 20 good readings")
            quarantined = store.quarantined()
        reasons = [v["reason"] for v in verdicts if v["verdict"] == "quarantined"]
        assert len(reasons) == len(sent) + 1 == len(quarantined)
        for (what, _p, allowed), reason in zip(sent, reasons):
            assert reason in allowed, (what, reason)
        assert reasons[-1] == "malformed"  # the header names gw-t but the topic gw-unknown
        outcomes = [(v["verdict"], v["seq"]) for v in verdicts if v["verdict"] != "quarantined"]
        assert outcomes[-6:] == [
            ("pending", 4),
            ("pending", 3),
            ("accepted", 2),
            ("accepted", 3),
            ("accepted", 4),
            ("duplicate", 1),
        ]
        assert worker.service.subscribed.is_set() and worker.thread.is_alive()
    finally:
        pub.close()
        assert worker.stop() == 0
        listener.close()


def test_batches_published_while_the_verifier_is_down_arrive_when_it_returns(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain("gw-d")
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-d": gw.enrolled_key}, port=mqtt_broker.port
    )
    pub = Publisher(mqtt_broker.port)
    try:
        worker = ThreadWorker(config)  # creates the session and its shared subscription
        pub.publish(batch_topic("gw-d"), gw.next_batch().to_payload())
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 4, 30, "batch 1")
        assert worker.stop() == 0
        for b in gw.batches(5):
            pub.publish(batch_topic("gw-d"), b.to_payload())
        with VerifierStore(config.store.path) as store:
            assert store.reading_count() == 4  # nobody is verifying now
        worker = ThreadWorker(config)  # same client id, clean_start=False: the session resumes
        with VerifierStore(config.store.path) as store:
            wait_until(
                lambda: store.reading_count() == 24, 30, "the 5 batches queued by the broker"
            )
            assert [s for _g, s, _h in store.accepted_batches()] == [1, 2, 3, 4, 5, 6]
        assert worker.stop() == 0
    finally:
        pub.close()


def test_a_backlog_is_stored_in_groups_and_every_message_acknowledged(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain("gw-q")
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-q": gw.enrolled_key}, port=mqtt_broker.port
    )
    listener = VerdictListener(mqtt_broker.port)
    pub = Publisher(mqtt_broker.port)
    try:
        worker = ThreadWorker(config)
        assert worker.stop() == 0
        batches = gw.batches(40)
        for b in batches:  # queued by the broker while nobody verifies
            pub.publish(batch_topic("gw-q"), b.to_payload())
        worker = ThreadWorker(config)  # takes the backlog in groups
        listener.wait_for_verdicts("accepted", 40)
        assert worker.stop() == 0
        # Had any message of a group gone unacknowledged, the resumed session would
        # deliver it again before this new batch, and it would come back a duplicate.
        worker = ThreadWorker(config)
        last = gw.next_batch()
        pub.publish(batch_topic("gw-q"), last.to_payload())
        verdicts = listener.wait_for_verdicts("accepted", 41)
        assert [v["verdict"] for v in verdicts] == ["accepted"] * 41
        assert [v["seq"] for v in verdicts] == list(range(1, 42))
        assert worker.stop() == 0
    finally:
        pub.close()
        listener.close()


def test_mqtt_311_single_worker_keeps_its_session(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    from dataclasses import replace

    gw = GatewayChain("gw-3")
    base = verifier_config(
        tmp_path / "v.sqlite", {"gw-3": gw.enrolled_key}, port=mqtt_broker.port, group=""
    )
    config = replace(base, mqtt=replace(base.mqtt, protocol="3.1.1"))
    pub = Publisher(mqtt_broker.port)
    try:
        worker = ThreadWorker(config)
        assert worker.stop() == 0
        for b in gw.batches(3):  # published while the worker is away
            pub.publish(batch_topic("gw-3"), b.to_payload())
        worker = ThreadWorker(config)
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 12, 30, "the 3 queued batches")
        assert worker.stop() == 0
    finally:
        pub.close()


def test_the_worker_reconnects_after_a_broker_restart(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain("gw-r")
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-r": gw.enrolled_key}, port=mqtt_broker.port
    )
    worker = ThreadWorker(config)
    try:
        pub = Publisher(mqtt_broker.port)
        pub.publish(batch_topic("gw-r"), gw.next_batch().to_payload())
        pub.close()
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 4, 30, "batch 1")
        worker.service.subscribed.clear()
        mqtt_broker.stop()  # this broker keeps no sessions: the worker must subscribe again
        mqtt_broker.start()
        assert worker.service.subscribed.wait(60), (
            "the worker did not resubscribe after the restart"
        )
        pub = Publisher(mqtt_broker.port, client_id="test-publisher-2")
        pub.publish(batch_topic("gw-r"), gw.next_batch().to_payload())
        pub.close()
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 8, 30, "batch 2 after the restart")
    finally:
        assert worker.stop() == 0


def test_an_open_gap_is_reported_in_the_log(
    mqtt_broker: MosquittoBroker, tmp_path: Path, caplog
) -> None:
    import logging

    gw = GatewayChain("gw-g")
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-g": gw.enrolled_key}, port=mqtt_broker.port
    )
    caplog.set_level(logging.WARNING, logger="edgeseal.verifier.service")
    worker = ThreadWorker(config)  # reports gaps every 0.5 s
    pub = Publisher(mqtt_broker.port)
    try:
        b1, _lost, b3 = gw.batches(3)
        pub.publish(batch_topic("gw-g"), b1.to_payload())
        pub.publish(batch_topic("gw-g"), b3.to_payload())
        wait_until(
            lambda: "gateway gw-g: 1 batch(es) held (seqs 3), waiting for seq 2" in caplog.text,
            30,
            "the gap warning",
        )
    finally:
        pub.close()
        assert worker.stop() == 0


def test_a_batch_that_cannot_be_stored_is_not_acknowledged_and_comes_back(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    import sqlite3
    from dataclasses import replace

    gw = GatewayChain("gw-f")
    base = verifier_config(tmp_path / "v.sqlite", {"gw-f": gw.enrolled_key}, port=mqtt_broker.port)
    config = replace(base, store=replace(base.store, busy_timeout_s=0.5))
    pub = Publisher(mqtt_broker.port)
    worker = ThreadWorker(config)
    try:
        b1, b2 = gw.batches(2)
        pub.publish(batch_topic("gw-f"), b1.to_payload())
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 4, 30, "batch 1")
        # Another process holds the store's write lock longer than the worker waits.
        blocker = sqlite3.connect(str(config.store.path), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        pub.publish(batch_topic("gw-f"), b2.to_payload())
        worker.thread.join(60)
        assert not worker.thread.is_alive() and worker.status == 1  # stopped, message not acked
        blocker.execute("ROLLBACK")
        blocker.close()
        worker = ThreadWorker(config)  # the broker delivers the unacknowledged batch again
        with VerifierStore(config.store.path) as store:
            wait_until(lambda: store.reading_count() == 8, 30, "batch 2 after the restart")
            assert store.quarantined() == []
    finally:
        pub.close()
        worker.stop()


def test_metrics_count_verdicts_and_readings(mqtt_broker: MosquittoBroker, tmp_path: Path) -> None:
    import socket
    import urllib.request
    from dataclasses import replace

    from edgeseal.testing.broker import free_port
    from edgeseal.verifier.service import ServiceStartError, VerifierService

    gw = GatewayChain("gw-m")
    port = free_port()
    config = replace(
        verifier_config(tmp_path / "v.sqlite", {"gw-m": gw.enrolled_key}, port=mqtt_broker.port),
        metrics_port=port,
    )
    worker = ThreadWorker(config)
    pub = Publisher(mqtt_broker.port)
    try:
        for b in gw.batches(2):
            pub.publish(batch_topic("gw-m"), b.to_payload())
        pub.publish(batch_topic("gw-m"), b"junk")

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                return resp.read().decode()

        wait_until(
            lambda: 'outcome="quarantined",reason="malformed"} 1.0' in scrape(), 30, "3 verdicts"
        )
        text = scrape()
        assert 'edgeseal_verifier_verdicts_total{outcome="accepted",reason=""} 2.0' in text
        assert "edgeseal_verifier_readings_accepted_total 8.0" in text
        assert "edgeseal_verifier_broker_connected 1.0" in text
        assert "edgeseal_verifier_message_seconds_count 3.0" in text
        # A second worker cannot take the same metrics port: a clear start-up error.
        with socket.socket() as s:
            s.connect(("127.0.0.1", port))  # the port is really served
        second = VerifierService(replace(config, mqtt=replace(config.mqtt, client_id="other")))
        try:
            second.run()
            raise AssertionError("a second worker served metrics on a taken port")
        except ServiceStartError as exc:
            assert f"cannot serve metrics on 127.0.0.1:{port}" in str(exc)
    finally:
        pub.close()
        assert worker.stop() == 0
