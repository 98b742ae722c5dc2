"""The verifier on a NATS JetStream cluster (``[bus] kind = "nats"``, issue 15).

Real processes only: a three-node nats-server cluster on loopback (JetStream, MQTT
listeners, every stream replicated three ways), `edgeseal agent` publishing with
paho-mqtt (MQTT 3.1.1) to one node's MQTT listener, and two `edgeseal verifier`
workers sharing one durable pull consumer and one SQLite store. One NATS node is
killed with SIGKILL mid-stream and started again; a worker is killed with SIGKILL (or
stopped with SIGTERM) mid-stream. Every reading is accepted exactly once, the chains
stay intact and the agent forgets each batch only on a signed verdict. A stream that
nats-server refuses stops the worker with a message saying what to change.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import paho.mqtt.client as mqtt
import pytest
from verifier_builders import GatewayChain, config_toml
from verifier_mqtt import ProcessWorker, wait_until

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.testing.devices import simulated_device
from edgeseal.testing.nats_cluster import NatsCluster, NatsNode
from edgeseal.verifier.bus_config import subject_matches
from edgeseal.verifier.config import config_from_mapping
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.topics import Topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import make_key, start_agent, write_config

READY = "consuming batches from NATS stream"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(size=3, workdir=tmp_path / "nats") as c:
        yield c


def verifier_toml(
    tmp_path: Path, cluster: NatsCluster, gateways: dict[str, bytes], *, prefix: str
) -> tuple[Path, str]:
    """The workers' configuration and the verifier's public key (hex) for the agents."""
    key = make_key(tmp_path / "verifier.key")
    servers = ", ".join(f'"{url}"' for url in cluster.servers)
    text = config_toml(tmp_path / "verifier.sqlite", gateways, port=1)
    text = text.replace("[mqtt]\n", f'[mqtt]\ntopic_prefix = "{prefix}"\n')
    path = tmp_path / "verifier.toml"
    path.write_text(
        text
        + f'\n[verifier]\nkey_path = "{tmp_path / "verifier.key"}"\nresend_after_s = 1.0\n'
        + "resend_max_s = 4.0\n"
        + f'\n[bus]\nkind = "nats"\nservers = [{servers}]\nstream = "BATCHES"\n'
        + "replicas = 3\nack_wait_s = 3.0\n"
    )
    return path, key.public_key.hex()


def start_workers(config: Path, tmp_path: Path, count: int = 2) -> list[ProcessWorker]:
    workers = [
        ProcessWorker(config, f"worker-{i}", tmp_path / f"worker-{i}.log") for i in range(count)
    ]
    for w in workers:
        wait_until(lambda w=w: READY in w.log_text() or w.process.poll() is not None, 60, "ready")
        assert w.process.poll() is None, w.log_text()[-3000:]
    return workers


def other_than(cluster: NatsCluster, name: str) -> NatsNode:
    return next(n for n in cluster.nodes if n.name != name)


@pytest.mark.parametrize("agent_node", ["another node", "the killed node"])
def test_a_nats_node_killed_mid_stream_loses_nothing_and_accepts_nothing_twice(
    cluster: NatsCluster, tmp_path: Path, agent_node: str
) -> None:
    """The node that leads the stream is killed. The agent talks MQTT either to another
    node (its batches meet a stream electing a new leader) or to that very node (it
    loses its broker, then gets its persistent session back from the cluster)."""
    gw, prefix = "gw-nats", "fleet/v1"
    gateway = make_key(tmp_path / "gateway.key")
    config, verifier_public = verifier_toml(
        tmp_path, cluster, {gw: gateway.public_key}, prefix=prefix
    )
    workers = start_workers(config, tmp_path)
    leader = cluster.stream_leader("BATCHES")
    assert leader is not None
    victim = cluster.node(leader)
    entry = other_than(cluster, leader) if agent_node == "another node" else victim
    outbox = tmp_path / "outbox.sqlite"
    agent_log = tmp_path / "agent.log"
    agent: subprocess.Popen[bytes] | None = None
    try:
        with simulated_device(device_id=81, rate=150, link=tmp_path / "ttyDEV81") as dev:
            agent_toml = write_config(
                tmp_path / "agent.toml",
                gateway_id=gw,
                key_path=tmp_path / "gateway.key",
                outbox_path=outbox,
                broker_port=entry.mqtt_port,
                ports=[dev.port],
                max_readings=30,
                max_delay_s=0.2,
                mqtt_extra=f'protocol = "3.1.1"\ntopic_prefix = "{prefix}"',
                extra=(
                    f'[verifier]\npublic_key = "{verifier_public}"\n'
                    "republish_min_s = 0.5\nrepublish_max_s = 2.0\nsession_expiry_s = 300\n"
                ),
            )
            agent = start_agent(agent_toml, agent_log)
            with VerifierStore(tmp_path / "verifier.sqlite") as store:
                wait_until(lambda: store.reading_count(gw) > 100, 30, "the first readings")
            cluster.kill(victim)  # SIGKILL the stream's leader mid-stream
            time.sleep(3.0)
            cluster.start_node(victim)
            time.sleep(3.0)
            dev.stop()
        acked = dev.acked_keys()
        assert len(acked) > 300, "the device produced too little to prove anything"
        with VerifierStore(tmp_path / "verifier.sqlite") as store:
            wait_until(lambda: acked <= store.reading_keys(gw), 40, f"every reading ({agent_log})")
            wait_until(lambda: store.gaps() == [], 10, "no held batches")
            accepted = store.accepted_batches(gw)
            assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
            assert store.reading_count(gw) == len(store.reading_keys(gw)), "a reading twice"
            assert store.quarantined() == []
        wait_until(lambda: outbox_batches(outbox) == 0, 20, "the agent's outbox to drain")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent_log.read_text()[-3000:]
        for w in workers:
            assert w.stop() == 0, w.log_text()[-3000:]
            # A clean stop: no error from closing the NATS connection (drain() used to
            # wait for the pull inbox nobody reads, and failed).
            assert " ERROR " not in w.log_text() and "Traceback" not in w.log_text()
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        for w in workers:
            if w.process.poll() is None:
                w.kill()


def outbox_batches(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])


def consumer_state(cluster: NatsCluster, durable: str = "verifiers") -> tuple[int, int]:
    """(pulled and not acknowledged, not yet pulled) for the workers' shared consumer."""

    async def query() -> tuple[int, int]:
        nc = await nats.connect(servers=cluster.servers)
        try:
            info = await nc.jetstream().consumer_info("BATCHES", durable)
        finally:
            await nc.close()
        return info.num_ack_pending or 0, info.num_pending or 0

    return asyncio.run(query())


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_a_worker_stopped_mid_stream_has_its_batches_redelivered_not_accepted_twice(
    cluster: NatsCluster, tmp_path: Path, signal_name: str
) -> None:
    """SIGKILL: what it pulled comes back after ack_wait_s (3 s). SIGTERM: it gives back
    (naks) what it pulled and did not store, which comes back 1.5 s later: with ack_wait_s
    at 60 s, the test's 30 s would not see it otherwise."""
    chains = [GatewayChain(f"gw-{i}", device_id=i) for i in range(2)]
    config, _public = verifier_toml(
        tmp_path, cluster, {c.gateway_id: c.enrolled_key for c in chains}, prefix="edgeseal/v1"
    )
    if signal_name == "SIGTERM":
        config.write_text(config.read_text().replace("ack_wait_s = 3.0", "ack_wait_s = 60.0"))
    workers = start_workers(config, tmp_path)
    batches = {c.gateway_id: c.batches(150, n=16) for c in chains}
    topics = Topics("edgeseal/v1")
    publisher = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="burst", protocol=mqtt.MQTTv311
    )
    publisher.connect("127.0.0.1", cluster.nodes[0].mqtt_port)
    publisher.loop_start()
    # The store's write lock, held by the test: the workers pull but cannot store, so
    # each holds a full window (128 batches) unsettled when one is stopped. Without it,
    # a worker whose window held only out-of-order batches stored them all (held, not
    # accepted) before the signal and had nothing left to give back.
    lock = sqlite3.connect(tmp_path / "verifier.sqlite", isolation_level=None)
    try:
        for w in workers:
            w.process.send_signal(signal.SIGSTOP)
        sent = []
        for i in range(150):
            for gw_id, chain in batches.items():
                sent.append(publisher.publish(topics.batch(gw_id), chain[i].to_payload(), qos=1))
        for info in sent:
            info.wait_for_publish(20)
        lock.execute("BEGIN IMMEDIATE")
        for w in workers:
            w.process.send_signal(signal.SIGCONT)
        wait_until(lambda: consumer_state(cluster) == (256, 44), 20, "two full windows pulled")
        victim = workers[0]
        if signal_name == "SIGKILL":
            victim.kill()  # its pulled batches are neither stored nor acked
        else:
            victim.process.send_signal(signal.SIGTERM)
            wait_until(lambda: "signal 15" in victim.log_text(), 10, "the worker to hear it")
        lock.execute("COMMIT")
        if signal_name == "SIGTERM":
            # It stores the group in hand (up to 64 batches) and gives the rest back.
            assert victim.stop() == 0, victim.log_text()[-3000:]
            given = re.search(r"gave back (\d+) unsettled", victim.log_text())
            assert given is not None and 64 <= int(given[1]) < 128, victim.log_text()
        with VerifierStore(tmp_path / "verifier.sqlite") as store:
            wait_until(lambda: store.reading_count() == 300 * 16, 30, "every batch")
            assert store.quarantined() == [] and store.gaps() == []
            for gw_id, chain in batches.items():
                assert store.accepted_batches(gw_id) == [
                    (gw_id, b.header.seq, b.hash) for b in chain
                ]
        survivor = workers[1].log_text()
        assert "delivered again" in survivor, "no batch of the stopped worker was redelivered"
        assert workers[1].stop() == 0, workers[1].log_text()[-3000:]
    finally:
        lock.close()
        publisher.loop_stop()
        publisher.disconnect()
        for w in workers:
            if w.process.poll() is None:
                w.kill()


def test_a_stream_that_cannot_be_made_stops_the_worker_saying_what_to_change(
    tmp_path: Path,
) -> None:
    with NatsCluster(size=1, workdir=tmp_path / "nats") as single:
        config, _public = verifier_toml(tmp_path, single, {}, prefix="edgeseal/v1")

        def refusal(name: str) -> str:
            return ProcessWorker(config, name, tmp_path / f"{name}.log").refusal()

        # Three replicas on one server.
        assert "set bus.replicas to at most the number of JetStream servers" in refusal("w1")

        async def other_stream() -> None:
            nc = await nats.connect(servers=single.servers)
            await nc.jetstream().add_stream(name="OTHER", subjects=["edgeseal.>"])
            await nc.close()

        asyncio.run(other_stream())
        config.write_text(config.read_text().replace("replicas = 3", "replicas = 1"))
        # Work-queue streams may not overlap: another stream already takes the batches.
        assert "another stream captures these subjects already" in refusal("w2")


# -- [bus] settings --------------------------------------------------------------------


def bus_config(bus: dict[str, object], prefix: str = "edgeseal/v1") -> object:
    return config_from_mapping({"mqtt": {"topic_prefix": prefix}, "bus": bus}).bus


def test_bus_defaults_to_mqtt_and_nats_settings_are_checked() -> None:
    assert config_from_mapping({}).bus.kind == "mqtt"
    nats = config_from_mapping({"bus": {"kind": "nats", "servers": ["nats://n1:4222"]}}).bus
    assert nats.nats and nats.servers == ("nats://n1:4222",) and nats.replicas == 3
    assert nats.stream_subjects(Topics()) == ("edgeseal.v1.*.batch",)
    with pytest.raises(ConfigError, match=r"only used with kind = \"nats\""):
        bus_config({"stream": "X"})
    with pytest.raises(ConfigError, match="not a NATS URL"):
        bus_config({"kind": "nats", "servers": ["http://n1:4222"]})
    with pytest.raises(ConfigError, match="maps '/' to '.'"):
        bus_config({"kind": "nats"}, prefix="edgeseal/v1.2")
    with pytest.raises(ConfigError, match="none takes in"):
        bus_config({"kind": "nats", "subjects": ["other.>"]})
    with pytest.raises(ConfigError, match="bus.stream"):
        bus_config({"kind": "nats", "stream": "a.b"})


def test_subject_filters_match_as_nats_server_does() -> None:
    assert subject_matches("edgeseal.>", "edgeseal.v1.*.batch")
    assert subject_matches("edgeseal.v1.*.batch", "edgeseal.v1.gw.batch")
    assert not subject_matches("edgeseal.v1.gw.batch", "edgeseal.v1.*.batch")
    assert not subject_matches("edgeseal.v1.*", "edgeseal.v1.gw.batch")
    assert not subject_matches("edgeseal.v1.>", "edgeseal.v1")
