"""Real verifier processes on one mosquitto: a shared subscription splits the stream
without loss or double acceptance, and a worker killed with SIGKILL loses nothing."""

from __future__ import annotations

from pathlib import Path

from verifier_builders import GatewayChain, batch_topic, config_toml
from verifier_mqtt import ProcessWorker, Publisher, VerdictListener, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.verifier.store import VerifierStore


def test_two_workers_split_the_stream_without_loss_or_double_acceptance(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gws = [GatewayChain(f"gw-{i}", device_id=i) for i in range(3)]
    store_path = tmp_path / "shared.sqlite"
    config = tmp_path / "verifier.toml"
    config.write_text(
        config_toml(store_path, {g.gateway_id: g.enrolled_key for g in gws}, port=mqtt_broker.port)
    )
    listener = VerdictListener(mqtt_broker.port)
    workers = [ProcessWorker(config, f"worker-{i}", tmp_path / f"worker-{i}.log") for i in range(2)]
    pub = Publisher(mqtt_broker.port)
    try:
        for w in workers:
            w.wait_subscribed()
        per_gateway = 25
        chains = {g.gateway_id: g.batches(per_gateway, n=8) for g in gws}
        for i in range(per_gateway):  # interleaved, as three gateways publishing at once
            for gw_id, batches in chains.items():
                pub.publish(batch_topic(gw_id), batches[i].to_payload())
        total = 3 * per_gateway
        with VerifierStore(store_path) as store:
            wait_until(lambda: store.reading_count() == total * 8, 120, f"{total * 8} readings")
            assert store.quarantined() == [] and store.gaps() == []
            for gw_id, batches in chains.items():
                assert store.accepted_batches(gw_id) == [
                    (gw_id, b.header.seq, b.hash) for b in batches
                ]
        # Verdicts are published after their commit, and pending ones count too: wait
        # for every accepted one rather than for `total` verdicts of any kind.
        verdicts = listener.wait_for_verdicts("accepted", total)
        accepted = [v for v in verdicts if v["verdict"] == "accepted"]
        assert len(accepted) == total
        assert len({v["header_hash"] for v in accepted}) == total  # no batch accepted twice
        by_worker = {w: sum(v["worker"] == w for v in accepted) for w in ("worker-0", "worker-1")}
        assert all(n > 0 for n in by_worker.values()), f"the stream was not split: {by_worker}"
        assert all(v["verdict"] in ("accepted", "pending") for v in verdicts), verdicts
    finally:
        pub.close()
        for w in workers:
            assert w.stop() == 0, w.log_text()[-3000:]
        listener.close()


def test_a_worker_killed_mid_stream_loses_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    gw = GatewayChain("gw-k")
    store_path = tmp_path / "v.sqlite"
    config = tmp_path / "verifier.toml"
    config.write_text(config_toml(store_path, {"gw-k": gw.enrolled_key}, port=mqtt_broker.port))
    worker = ProcessWorker(config, "worker-k", tmp_path / "worker.log")
    pub = Publisher(mqtt_broker.port)
    try:
        worker.wait_subscribed()
        batches = gw.batches(40, n=64)
        for b in batches[:20]:
            pub.publish(batch_topic("gw-k"), b.to_payload())
        with VerifierStore(store_path) as store:
            wait_until(lambda: store.reading_count() >= 64, 60, "the first accepted batch")
            worker.kill()  # SIGKILL: no goodbye, some batches unacknowledged
            before = store.reading_count()
        for b in batches[20:]:
            pub.publish(batch_topic("gw-k"), b.to_payload())
        worker = ProcessWorker(config, "worker-k", tmp_path / "worker.log")
        worker.wait_subscribed(times=2)
        assert "session present: True" in worker.log_text()  # the broker kept the session
        with VerifierStore(store_path) as store:
            wait_until(lambda: store.reading_count() == 40 * 64, 120, "all 40 batches")
            assert [h for _g, _s, h in store.accepted_batches()] == [b.hash for b in batches]
            assert store.quarantined() == [] and store.gaps() == []
        assert before <= 40 * 64
    finally:
        pub.close()
        worker.stop()
