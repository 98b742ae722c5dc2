"""Real verifier processes on one PostgreSQL store and one mosquitto: two workers racing
on the same gateways accept every batch once and no fork; the database going away
under a worker loses nothing that was acknowledged."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from verifier_builders import GatewayChain, batch_topic, config_toml
from verifier_mqtt import ProcessWorker, Publisher, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.store import VerifierStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import make_key, start_agent, write_config


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def _config(tmp_path: Path, url: str, keys: dict[str, bytes], port: int) -> Path:
    unused = tmp_path / "unused.sqlite"
    text = config_toml(unused, keys, port=port).replace(f'path = "{unused}"', f'url = "{url}"')
    assert f'url = "{url}"' in text
    config = tmp_path / "verifier.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_two_workers_on_one_postgres_store_accept_each_batch_once_and_no_fork(
    postgres: PostgresServer, mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    url = postgres.create_database("workers")
    gws = [GatewayChain(f"gw-{i}", device_id=i) for i in range(3)]
    config = _config(tmp_path, url, {g.gateway_id: g.enrolled_key for g in gws}, mqtt_broker.port)
    workers = [ProcessWorker(config, f"worker-{i}", tmp_path / f"worker-{i}.log") for i in range(2)]
    pub = Publisher(mqtt_broker.port)
    try:
        for w in workers:
            w.wait_subscribed()
        per_gateway = 20
        chains = {g.gateway_id: g.batches(per_gateway, n=8) for g in gws}
        # A rival of gw-0's seq 3, signed by its key: a fork, whoever sees it.
        rival = GatewayChain("gw-0", key=gws[0].key, device_id=0)
        rival.seq, rival.prev_hash, rival.device_seq = 2, chains["gw-0"][1].hash, 1000
        fork = rival.next_batch(8)
        for i in range(per_gateway):
            for gw_id, batches in chains.items():
                # Every batch twice, as a redelivering bus may: both workers may get it.
                pub.publish(batch_topic(gw_id), batches[i].to_payload())
                pub.publish(batch_topic(gw_id), batches[i].to_payload())
            if i == 5:
                pub.publish(batch_topic("gw-0"), fork.to_payload())
        total = 3 * per_gateway
        with VerifierStore(url) as store:
            wait_until(lambda: store.reading_count() == total * 8, 120, f"{total * 8} readings")
            wait_until(lambda: len(store.quarantined("gw-0")) == 1, 60, "the fork quarantined")
            for gw_id, batches in chains.items():
                assert store.accepted_batches(gw_id) == [
                    (gw_id, b.header.seq, b.hash) for b in batches
                ]
            assert store.quarantined("gw-0")[0].header_hash == fork.hash
            assert store.log.size() == total
            assert store.gaps() == []
    finally:
        pub.close()
        for w in workers:
            assert w.stop() == 0, w.log_text()[-3000:]


def test_the_database_going_away_stops_the_worker_and_loses_nothing_acknowledged(
    postgres: PostgresServer, mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    url = postgres.create_database("outage")
    gw = GatewayChain("gw-o")
    config = _config(tmp_path, url, {"gw-o": gw.enrolled_key}, mqtt_broker.port)
    log_path = tmp_path / "worker.log"
    worker = ProcessWorker(config, "worker-o", log_path)
    pub = Publisher(mqtt_broker.port)
    batches = gw.batches(30, n=16)
    try:
        worker.wait_subscribed()
        for b in batches[:10]:
            pub.publish(batch_topic("gw-o"), b.to_payload())
        with VerifierStore(url) as store:
            wait_until(lambda: store.reading_count() == 10 * 16, 60, "the first 10 batches")
        postgres.stop()  # -m immediate: every connection dropped, as a crash would
        for b in batches[10:20]:
            pub.publish(batch_topic("gw-o"), b.to_payload())
        # The worker cannot store them: it says so, names the store and stops, without
        # acknowledging them.
        code = worker.process.wait(60)
        text = worker.log_text()
        assert code != 0, text[-3000:]
        assert "cannot store the verdicts" in text, text[-3000:]
        assert f"PostgreSQL store {url}" in text, text[-3000:]
        worker.stop()
        postgres.start()
        for b in batches[20:]:
            pub.publish(batch_topic("gw-o"), b.to_payload())
        worker = ProcessWorker(config, "worker-o", log_path)
        worker.wait_subscribed(times=2)
        with VerifierStore(url) as store:
            wait_until(lambda: store.reading_count() == 30 * 16, 120, "all 30 batches")
            assert [h for _g, _s, h in store.accepted_batches()] == [b.hash for b in batches]
            assert store.quarantined() == [] and store.gaps() == []
            assert store.log.size() == 30
    finally:
        pub.close()
        worker.stop()
        if not postgres.running:
            postgres.start()


def test_a_real_agent_and_two_workers_on_postgres_accept_every_acknowledged_reading_once(
    postgres: PostgresServer, mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Simulated devices -> `edgeseal agent` -> mosquitto -> two `edgeseal verifier`
    processes sharing one PostgreSQL store."""
    gw = "gw-pg-agent"
    key = make_key(tmp_path / "gw.key")
    url = postgres.create_database("agent")
    config = _config(tmp_path, url, {gw: key.public_key}, mqtt_broker.port)
    workers = [ProcessWorker(config, f"worker-{i}", tmp_path / f"worker-{i}.log") for i in range(2)]
    agent_log = tmp_path / "agent.log"
    try:
        for w in workers:
            w.wait_subscribed()
        with (
            simulated_device(device_id=61, rate=200, link=tmp_path / "ttyDEV61") as dev1,
            simulated_device(device_id=62, rate=200, link=tmp_path / "ttyDEV62") as dev2,
        ):
            agent_config = write_config(
                tmp_path / "agent.toml",
                gateway_id=gw,
                key_path=tmp_path / "gw.key",
                outbox_path=tmp_path / "outbox.sqlite",
                broker_port=mqtt_broker.port,
                ports=[dev1.port, dev2.port],
                max_readings=16,  # many small batches: both workers get some of each chain
                max_delay_s=0.1,
            )
            agent = start_agent(agent_config, agent_log)
            time.sleep(3.0)
            agent.send_signal(signal.SIGTERM)  # seals what it holds, waits for PUBACKs
            assert agent.wait(30) == 0, agent_log.read_text()[-3000:]
            dev1.stop()
            dev2.stop()
        acked = dev1.acked_keys() | dev2.acked_keys()
        assert len(acked) > 100, "the devices produced too little to prove anything"
        with VerifierStore(url) as store:
            wait_until(lambda: acked <= store.reading_keys(gw), 60, "every acknowledged reading")
            wait_until(lambda: store.gaps() == [], 30, "no held batches")
            accepted = store.accepted_batches(gw)
            assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
            assert store.reading_count(gw) == len(store.reading_keys(gw))
            assert store.quarantined() == []
            assert store.log.size() == len(accepted)
            # mosquitto hands a shared subscription's messages round robin: both took part
            by_worker = store._conn.execute(
                "SELECT worker, COUNT(*) FROM batches GROUP BY worker ORDER BY worker"
            ).fetchall()
            assert [w for w, _n in by_worker] == ["worker-0", "worker-1"], by_worker
    finally:
        for w in workers:
            assert w.stop() == 0, w.log_text()[-3000:]
