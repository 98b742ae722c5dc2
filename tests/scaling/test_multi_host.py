"""The back end on several hosts, for real (issue 15).

Each host is a network namespace cabled to a private switch (edgeseal.testing.netns):
one runs PostgreSQL (the store, ``[store] url``), one the broker (mosquitto), two run a
verifier worker process each, one runs `edgeseal agent` reading a simulated device on a
pty. The workers share one MQTT 5 shared subscription and one database, each over its
own TCP connection across the switch. Mid-stream a verifier host's process is
killed with SIGKILL, the agent host's link is cut for a few seconds, the killed worker
is restarted, and the other verifier host's link is cut while it works. Every reading
the device had acknowledged is accepted exactly once, the chain has no gap and no
fork, and the agent forgets its batches only on signed verdicts (its outbox drains).
Then two different, validly signed batches for the same next seq reach the two
workers at once: exactly one is accepted, the other is quarantined as a fork.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from agent_helpers import make_key, start_agent, write_config
from verifier_builders import config_toml, reading, seal
from verifier_mqtt import ProcessWorker, wait_until

from edgeseal.agent.identity import load_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device
from edgeseal.testing.netns import Host, Network
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.verdict import Reason
from edgeseal.wire.topics import Topics

GW = "gw-hosts"
MQTT_PORT = 1883
PG_PORT = 5432


def start_broker(host: Host, workdir: Path) -> MosquittoBroker:
    workdir.mkdir()
    # Made and started inside the host: it binds the host's address there.
    broker = host.call(MosquittoBroker, host=host.address, port=MQTT_PORT, workdir=workdir)
    host.call(broker.start)
    return broker


def start_postgres(host: Host) -> tuple[PostgresServer, str]:
    """PostgreSQL inside ``host``, listening on its address, trusting the switch's
    subnet (initdb trusts loopback only); the store's URL."""
    server = host.call(PostgresServer, host=host.address, port=PG_PORT)
    try:
        host.call(server.start)
        subnet = host.address.rsplit(".", 1)[0] + ".0/24"
        with (server.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {subnet} trust\n")
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGHUP)  # reload pg_hba.conf
        deadline = time.monotonic() + 20
        while True:
            try:
                return server, host.call(server.create_database, "verifier")
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except BaseException:
        server.close()
        raise


def verifier_config(
    tmp_path: Path, broker: Host, store_url: str, gateway_key: bytes
) -> tuple[Path, str]:
    """The workers' configuration and the verifier's public key (hex) for the agent."""
    key = make_key(tmp_path / "verifier.key")
    text = config_toml(tmp_path / "unused.sqlite", {GW: gateway_key}, port=MQTT_PORT)
    text = text.replace('host = "127.0.0.1"', f'host = "{broker.address}"')
    text = text.replace("[store]\n", f'[store]\nurl = "{store_url}"\n')
    path = tmp_path / "verifier.toml"
    path.write_text(
        text
        + f'\n[verifier]\nkey_path = "{tmp_path / "verifier.key"}"\n'
        + "resend_after_s = 1.0\nresend_max_s = 4.0\n"
    )
    return path, key.public_key.hex()


def start_worker(host: Host, config: Path, tmp_path: Path, *, times: int = 1) -> ProcessWorker:
    """``edgeseal verifier`` inside ``host``; returns once it has subscribed."""
    worker = host.call(
        ProcessWorker, config, f"verifier-{host.name}", tmp_path / f"{host.name}.log"
    )
    host.network.processes.append(worker.process)  # killed with the network, whatever happens
    worker.wait_subscribed(times=times, timeout=60)
    return worker


def outbox_batches(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])


def publish_from(host: Host, broker: Host, payloads: list[tuple[str, bytes]]) -> None:
    """Publish (QoS 1) from a client inside ``host``, one after the other, no pause."""

    def connected() -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="forger", protocol=mqtt.MQTTv5
        )
        client.connect(broker.address, MQTT_PORT)
        return client

    client = host.call(connected)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in payloads]
        for info in sent:
            info.wait_for_publish(10)
            assert info.is_published(), "the broker did not acknowledge a publish"
    finally:
        client.loop_stop()
        client.disconnect()


def test_verifiers_on_two_hosts_survive_a_kill_and_cut_links_accepting_each_reading_once(
    network: Network, tmp_path: Path
) -> None:
    db_host = network.add_host("store")
    broker_host = network.add_host("broker")
    v1, v2 = network.add_host("verifier1"), network.add_host("verifier2")
    agent_host = network.add_host("agent")
    with ExitStack() as stack:
        broker = start_broker(broker_host, tmp_path / "broker")
        stack.callback(broker.close)
        pg, store_url = start_postgres(db_host)
        stack.callback(pg.close)

        def open_store() -> VerifierStore:
            # The test reads the database from the store host (the socket stays there).
            return db_host.call(VerifierStore, store_url)

        gateway = make_key(tmp_path / "gateway.key")
        config, verifier_public = verifier_config(
            tmp_path, broker_host, store_url, gateway.public_key
        )
        workers = {
            v1.name: start_worker(v1, config, tmp_path),
            v2.name: start_worker(v2, config, tmp_path),
        }
        assert v1.reaches(broker_host.address, MQTT_PORT)
        outbox = tmp_path / "outbox.sqlite"
        agent_log = tmp_path / "agent.log"
        dev = stack.enter_context(
            simulated_device(device_id=91, rate=150, link=tmp_path / "ttyDEV91")
        )
        agent_toml = write_config(
            tmp_path / "agent.toml",
            gateway_id=GW,
            key_path=tmp_path / "gateway.key",
            outbox_path=outbox,
            broker_port=MQTT_PORT,
            ports=[dev.port],
            max_readings=30,
            max_delay_s=0.2,
            extra=(
                f'[verifier]\npublic_key = "{verifier_public}"\n'
                "republish_min_s = 0.5\nrepublish_max_s = 2.0\nsession_expiry_s = 300\n"
            ),
        )
        agent_toml.write_text(
            agent_toml.read_text().replace('host = "127.0.0.1"', f'host = "{broker_host.address}"')
        )
        agent: subprocess.Popen[bytes] = agent_host.call(start_agent, agent_toml, agent_log)
        network.processes.append(agent)
        with open_store() as store:
            wait_until(
                lambda: store.reading_count(GW) > 100, 30, f"the first readings ({agent_log})"
            )
            workers[v1.name].kill()  # SIGKILL, mid-stream: what it held is neither stored nor acked
            with network.cut(agent_host, seconds=3.0):
                pass  # the agent seals into its outbox meanwhile
            # The restarted worker takes its MQTT session (same client id) back.
            workers[v1.name] = start_worker(v1, config, tmp_path, times=2)
            before = store.reading_count(GW)
            with network.cut(v2, seconds=3.0):
                wait_until(lambda: store.reading_count(GW) > before + 60, 20, "verifier1 alone")
        dev.stop()
        acked = dev.acked_keys()
        assert len(acked) > 600, f"the device produced too little to prove anything ({len(acked)})"
        with open_store() as store:
            wait_until(lambda: acked <= store.reading_keys(GW), 30, f"every reading ({agent_log})")
            wait_until(lambda: store.gaps() == [], 10, "no held batches")
            accepted = store.accepted_batches(GW)
            assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
            assert store.reading_count(GW) == len(store.reading_keys(GW)), "a reading twice"
            assert store.quarantined() == []
        wait_until(lambda: outbox_batches(outbox) == 0, 20, "the agent's outbox to drain")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent_log.read_text()[-3000:]

        # Two different batches for the next seq, both validly signed by the gateway's key,
        # one right after the other: the shared subscription hands them to both workers.
        # (The agent sealed what it still held when it stopped: wait for that batch too.)
        wait_until(lambda: outbox_batches(outbox) == 0, 20, "the agent's last batch")
        with open_store() as store:
            ((_gw, head_seq, head_hash),) = store.chain_heads()
        key = load_key(tmp_path / "gateway.key").private_key
        forks = [
            seal(
                key,
                GW,
                head_seq + 1,
                head_hash,
                [reading(GW, s, device_id=900 + i) for s in range(1, 9)],
            )
            for i in range(2)
        ]
        topic = Topics().batch(GW)
        publish_from(agent_host, broker_host, [(topic, f.to_payload()) for f in forks])
        with open_store() as store:
            wait_until(lambda: len(store.quarantined()) == 1, 20, "the fork to be quarantined")
            accepted_next = [b for b in store.accepted_batches(GW) if b[1] == head_seq + 1]
            assert len(accepted_next) == 1, accepted_next
            winner = next(f for f in forks if f.hash == accepted_next[0][2])
            (refused,) = store.quarantined()
            assert refused.reason == Reason.FORK.value and refused.seq == head_seq + 1
            assert refused.header_hash != winner.hash
            assert {refused.header_hash, winner.hash} == {f.hash for f in forks}
        for worker in workers.values():
            assert worker.stop() == 0, worker.log_text()[-3000:]
            assert "Traceback" not in worker.log_text(), worker.log_text()[-3000:]
