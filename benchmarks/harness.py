"""The end-to-end harness the verifier benchmarks share: signed batches from several
gateways, real worker processes (the shipped ``VerifierService``), a bus, a store, and
the clock from the first publish until the last batch is committed.

Buses: a private mosquitto (the workers hold an MQTT 5 shared subscription) or a
private nats-server cluster (``edgeseal.testing.nats_cluster``) whose MQTT listener
takes the gateways' MQTT 3.1.1 publishes and whose JetStream stream the workers pull
from (``[bus] kind = "nats"``). Stores: a SQLite file or a fresh database of a private
PostgreSQL server. Used by ``bench_verifier``, ``bench_bus``, ``bench_log`` and
``bench_scale``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import multiprocessing as mp
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.nats_cluster import NatsCluster
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.bus_config import BusConfig
from edgeseal.verifier.checks import native_reading_verifier
from edgeseal.verifier.config import MqttConfig, StoreConfig, VerifierConfig
from edgeseal.verifier.decode import decode_batch
from edgeseal.verifier.log_config import LogConfig
from edgeseal.wire.batch import ZERO_HASH, SealedBatch
from edgeseal.wire.record import RecordEncoder
from edgeseal.wire.topics import Topics

# Enough batches per gateway that two workers have something to share at every size.
MIN_BATCHES_PER_GATEWAY = 8


def pynacl_one_by_one(public_key: bytes, sealed: SealedBatch) -> list[int]:
    """Reading signatures verified one at a time with PyNaCl (the baseline)."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    key = VerifyKey(public_key)
    bad = []
    for i in range(sealed.count):
        try:
            key.verify(sealed.record(i), sealed.signature(i))
        except BadSignatureError:
            bad.append(i)
    return bad


def worker_main(
    config: VerifierConfig, verifier: str, stop: Any, ready: Any, log_entries: bool = True
) -> None:
    # A worker process: the real service, with the verification switch applied.
    from edgeseal.verifier import service as service_module
    from edgeseal.verifier.checks import native_reading_verifier
    from edgeseal.verifier.service import VerifierService
    from edgeseal.verifier.store import VerifierStore

    if not log_entries:
        # The baseline of bench_log: the store without its transparency log, which no
        # configuration can turn off (an accepted batch is always logged).
        def open_store(c: VerifierConfig) -> VerifierStore:
            return VerifierStore(
                c.store.path,
                synchronous=c.store.synchronous,
                busy_timeout_s=c.store.busy_timeout_s,
                log_entries=False,
            )

        service_module.open_store = open_store

    logging.basicConfig(
        level=logging.WARNING,
        format=f"%(asctime)s {config.mqtt.client_id} %(levelname)s %(message)s",
    )
    reading_verifier = native_reading_verifier if verifier == "native" else pynacl_one_by_one
    service = VerifierService(config, reading_verifier=reading_verifier, gap_report_interval_s=0.2)
    import threading

    threading.Thread(target=lambda: (stop.wait(), service.stop()), daemon=True).start()
    threading.Thread(
        target=lambda: (service.subscribed.wait(), ready.release()), daemon=True
    ).start()
    sys.exit(service.run())


@dataclass(frozen=True)
class Gateway:
    gateway_id: str
    key: Ed25519PrivateKey
    records: list[bytes]
    signatures: list[bytes]
    times: list[int]


def make_gateways(n_gateways: int, readings_each: int, first: int = 0) -> list[Gateway]:
    """Signed records (the expensive part) made once and sealed per batch size later;
    the gateways are bench-gw-<first> ... bench-gw-<first + n_gateways - 1>."""
    out = []
    for g in range(first, first + n_gateways):
        key = Ed25519PrivateKey.generate()
        gw_id = f"bench-gw-{g}"
        enc = RecordEncoder(gw_id)
        base = 1_764_000_000_000_000
        records = [
            enc.encode(
                device_id=1 + i % 8,
                boot_id=1,
                device_seq=i // 8,
                channel=i % 4,
                unit=3,
                mantissa=20_000 + i % 1000,
                exponent=-3,
                time_kind=1,
                device_time_ms=base // 1000 + i,
                gateway_time_us=base + 1000 * i,
            )
            for i in range(readings_each)
        ]
        out.append(
            Gateway(
                gw_id,
                key,
                records,
                [key.sign(r) for r in records],
                [base + 1000 * i for i in range(readings_each)],
            )
        )
    return out


def seal_all(
    gateways: Sequence[Gateway], size: int, per_gateway_readings: int
) -> list[tuple[str, bytes]]:
    """(topic, payload) for every batch, gateways interleaved as they would publish."""
    per_gateway: list[list[tuple[str, bytes]]] = []
    for gw in gateways:
        prev = ZERO_HASH
        msgs = []
        for seq, start in enumerate(range(0, per_gateway_readings, size), start=1):
            sealed = seal_batch(
                private_key=gw.key,
                gateway_id=gw.gateway_id,
                seq=seq,
                prev_hash=prev,
                records=gw.records[start : start + size],
                signatures=gw.signatures[start : start + size],
                first_time_us=gw.times[start],
                last_time_us=gw.times[min(start + size, per_gateway_readings) - 1],
            )
            prev = sealed.hash
            msgs.append((Topics().batch(gw.gateway_id), sealed.to_payload()))
        per_gateway.append(msgs)
    return [m for group in itertools.zip_longest(*per_gateway) for m in group if m is not None]


@dataclass(frozen=True)
class Bus:
    """Where the gateways publish and where the workers take the batches from."""

    name: str  # for the tables: "mqtt-mosquitto", "nats-r1", ...
    host: str
    mqtt_port: int  # the MQTT listener the gateways publish to
    protocol: int  # paho's MQTTv5 (mosquitto) or MQTTv311 (nats-server's listener)
    broker_port: int  # the workers' [mqtt] port: a mosquitto
    config: BusConfig = field(default_factory=BusConfig)  # the workers' [bus]

    def for_case(self, case_id: str) -> BusConfig:
        """The workers' [bus] for one case: a fresh NATS stream and consumer each, so
        that no case starts with another's backlog."""
        if not self.config.nats:
            return self.config
        return BusConfig(
            kind="nats",
            servers=self.config.servers,
            stream=f"BENCH_{case_id.replace('-', '_')}",
            durable="verifiers",
            replicas=self.config.replicas,
            ack_wait_s=60.0,
        )


def mosquitto_bus(broker: MosquittoBroker) -> Bus:
    """The MQTT bus: gateways and workers on one mosquitto."""
    return Bus("mqtt-mosquitto", broker.host, broker.port, mqtt.MQTTv5, broker.port)


def nats_bus(cluster: NatsCluster, broker: MosquittoBroker) -> Bus:
    """The NATS JetStream bus: gateways publish over MQTT 3.1.1 to the first node's
    MQTT listener, the stream is replicated on every node, and the workers' [mqtt]
    stays on ``broker``."""
    return Bus(
        f"nats-r{cluster.size}",
        cluster.nodes[0].host,
        cluster.nodes[0].mqtt_port,
        mqtt.MQTTv311,
        broker.port,
        BusConfig(kind="nats", servers=tuple(cluster.servers), replicas=cluster.size),
    )


def delete_stream(config: BusConfig) -> None:
    """Remove a case's stream: work-queue streams may not share subjects."""
    import nats

    async def delete() -> None:
        nc = await nats.connect(servers=list(config.servers))
        try:
            await nc.jetstream().delete_stream(config.stream)
        finally:
            await nc.close()

    asyncio.run(delete())


def native_verify_rate(
    gateways: Sequence[Gateway], messages: list[tuple[str, bytes]], repeat: int = 3
) -> float:
    """Readings/s of the native batch verification alone (``verify_batch_packed`` over
    every batch of ``messages``, CPU time on one core, best of ``repeat``): the
    denominator of the pipeline's efficiency."""
    topics = Topics()
    keys = {g.gateway_id: raw_public_key(g.key) for g in gateways}
    decoded = [decode_batch(topics, t, p).sealed for t, p in messages]
    readings = sum(s.count for s in decoded)
    best = math.inf
    for _ in range(max(repeat, 1)):
        started = time.process_time()
        for sealed in decoded:
            native_reading_verifier(keys[sealed.header.gateway_id], sealed)
        best = min(best, time.process_time() - started)
    return readings / best


_PROGRESS = (
    "SELECT COALESCE(SUM(count), 0), MAX(accepted_us) FROM batches",
    "SELECT COUNT(*) FROM quarantine",
    "SELECT COUNT(*) FROM pending",
)


def store_progress(path: Path | str) -> tuple[int, int | None, int, int]:
    """(stored readings, last accepted_us, quarantined, held) — read-only peek."""
    if isinstance(path, str):  # a PostgreSQL URL
        import psycopg

        with psycopg.connect(path, autocommit=True) as pg:
            readings, last = pg.execute(_PROGRESS[0]).fetchone() or (0, None)
            quarantined = (pg.execute(_PROGRESS[1]).fetchone() or (0,))[0]
            held = (pg.execute(_PROGRESS[2]).fetchone() or (0,))[0]
            return int(readings), last, int(quarantined), int(held)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        readings = conn.execute(
            "SELECT COALESCE(SUM(count), 0), MAX(accepted_us) FROM batches"
        ).fetchone()
        quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        held = conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
        return int(readings[0]), readings[1], int(quarantined), int(held)
    finally:
        conn.close()


def _publishers(bus: Bus, case_id: str, topics: Sequence[str]) -> dict[str, mqtt.Client]:
    """One MQTT connection per gateway, as in the field: a listener handles each
    connection's QoS 1 publishes in order (nats-server stores each before its PUBACK),
    so one connection for every gateway would bound the NATS bus by its ingest."""
    publishers: dict[str, mqtt.Client] = {}
    for topic in topics:
        if topic in publishers:
            continue
        pub = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{case_id}-pub{len(publishers)}",
            protocol=bus.protocol,
        )
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect(bus.host, bus.mqtt_port)
        pub.loop_start()
        publishers[topic] = pub
    return publishers


def run_case(
    bus: Bus,
    workdir: Path,
    gateways: Sequence[Gateway],
    messages: list[tuple[str, bytes]],
    *,
    total: int,
    workers: int,
    verifier: str,
    synchronous: str,
    case_id: str,
    timeout_s: float,
    log: LogConfig | None = None,
    log_entries: bool = True,
    postgres: PostgresServer | None = None,
) -> dict[str, Any]:
    """One run: ``workers`` worker processes take ``messages`` from ``bus`` into a
    fresh store; readings/s from the first publish to the last commit.

    ``log``: the workers' [log] section; ``log_entries=False``: a store without the
    transparency log (bench_log's baseline); ``postgres``: the store is a new database
    of that server instead of a SQLite file."""
    store_path = workdir / f"{case_id}.sqlite"
    url = ""
    if postgres is not None:
        url = postgres.create_database(case_id.replace("-", "_"))
    progress: Path | str = url or store_path
    bus_config = bus.for_case(case_id)
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ready = ctx.Semaphore(0)
    procs = []
    for w in range(workers):
        config = VerifierConfig(
            mqtt=MqttConfig(
                host="127.0.0.1",
                port=bus.broker_port,
                client_id=f"{case_id}-w{w}",
                group=f"bench-{case_id}",
                session_expiry_s=60,
                keepalive_s=30,
            ),
            store=StoreConfig(path=store_path, synchronous=synchronous, url=url),
            gateways={g.gateway_id: raw_public_key(g.key) for g in gateways},
            log=log if log is not None else LogConfig(),
            bus=bus_config,
        )
        p = ctx.Process(
            target=worker_main,
            args=(config, verifier, stop, ready, log_entries),
            name=f"worker-{w}",
        )
        p.start()
        procs.append(p)
    subscribed, deadline = 0, time.monotonic() + 60
    while subscribed < workers:  # every worker's subscription or consumer is in place
        if ready.acquire(timeout=0.2):
            subscribed += 1
            continue
        dead = [p.exitcode for p in procs if not p.is_alive()]
        if dead or time.monotonic() > deadline:
            stop.set()
            raise RuntimeError(
                f"case {case_id}: {subscribed} of {workers} workers subscribed "
                f"(exit codes of dead workers: {dead})"
            )
    publishers: dict[str, mqtt.Client] = {}
    stored, last_us, quarantined, held = 0, None, 0, 0
    try:
        publishers = _publishers(bus, case_id, [topic for topic, _payload in messages])
        t0_us = time.time_ns() // 1000
        infos = [publishers[topic].publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
        published_us = time.time_ns() // 1000
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stored, last_us, quarantined, held = store_progress(progress)
            if stored >= total or quarantined:
                break
            exited = [p.exitcode for p in procs if not p.is_alive()]
            if exited:
                raise RuntimeError(f"case {case_id}: worker(s) exited early: {exited}")
            time.sleep(0.05)
    finally:
        for pub in publishers.values():
            pub.loop_stop()
            pub.disconnect()
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        if bus_config.nats:
            delete_stream(bus_config)
    if stored != total or quarantined or last_us is None:
        raise RuntimeError(
            f"case {case_id}: {stored} of {total} readings stored, {quarantined} quarantined, "
            f"{held} held"
        )
    seconds = (last_us - t0_us) / 1e6
    return {
        "batch_size": len(messages) and total // len(messages),
        "workers": workers,
        "verifier": verifier,
        "synchronous": synchronous,
        "store": "postgresql" if url else "sqlite",
        "bus": bus.name,
        "readings": total,
        "batches": len(messages),
        "publishers": len(publishers),
        "seconds": round(seconds, 3),
        "readings_per_s": round(total / seconds),
        "publish_seconds": round((published_us - t0_us) / 1e6, 3),
    }
