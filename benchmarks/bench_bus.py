"""The verifier's readings/s on each bus: MQTT (mosquitto) against NATS JetStream.

    python -m benchmarks.bench_bus [--quick] [--sizes 64] [--readings N] [--nats-nodes 1,3]

The same workload as ``bench_verifier`` (signed batches from several gateways, real
worker processes sharing one SQLite store, native verification, ``synchronous =
"normal"``), published with paho-mqtt at QoS 1 either to a private mosquitto (the
workers hold an MQTT 5 shared subscription) or, as gateways would, to the MQTT
listener of a private nats-server cluster of 1 or 3 nodes (MQTT 3.1.1; the stream
and nats-server's MQTT streams replicated on every node; the workers pull from one
durable JetStream consumer). The clock runs from the first publish until the last
batch is committed. Every case runs in one process, one after the other, so the
ratios NATS/MQTT compare runs under the same machine load.
Results: ``benchmarks/results/bench_bus.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from benchmarks.bench_verifier import (
    MIN_BATCHES_PER_GATEWAY,
    Gateway,
    _store_progress,
    _worker_main,
    make_gateways,
    seal_all,
)
from edgeseal.agent.seal import raw_public_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.nats_cluster import NatsCluster
from edgeseal.verifier.bus_config import BusConfig
from edgeseal.verifier.config import MqttConfig, StoreConfig, VerifierConfig

log = logging.getLogger("bench_bus")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_bus.json"


@dataclass(frozen=True)
class Bus:
    """Where the batches go: a name for the tables, the MQTT port to publish to."""

    name: str
    mqtt_port: int
    protocol: int  # paho's MQTTv5 or MQTTv311
    bus: BusConfig
    mqtt_broker_port: int  # the workers' [mqtt] port (mosquitto) or unused


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


def run_case(
    bus: Bus,
    workdir: Path,
    gateways: Sequence[Gateway],
    messages: list[tuple[str, bytes]],
    *,
    total: int,
    workers: int,
    case_id: str,
    timeout_s: float,
) -> dict[str, Any]:
    store_path = workdir / f"{case_id}.sqlite"
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    ready = ctx.Semaphore(0)
    procs = []
    bus_config = bus.bus
    if bus_config.nats:  # a fresh stream and consumer per case
        bus_config = BusConfig(
            kind="nats",
            servers=bus_config.servers,
            stream=f"BENCH_{case_id.replace('-', '_')}",
            durable="verifiers",
            replicas=bus_config.replicas,
            ack_wait_s=60.0,
        )
    for w in range(workers):
        config = VerifierConfig(
            mqtt=MqttConfig(
                host="127.0.0.1",
                port=bus.mqtt_broker_port,
                client_id=f"{case_id}-w{w}",
                group=f"bench-{case_id}",
                session_expiry_s=60,
                keepalive_s=30,
            ),
            store=StoreConfig(path=store_path, synchronous="normal"),
            gateways={g.gateway_id: raw_public_key(g.key) for g in gateways},
            bus=bus_config,
        )
        p = ctx.Process(target=_worker_main, args=(config, "native", stop, ready))
        p.start()
        procs.append(p)
    subscribed, deadline = 0, time.monotonic() + 60
    while subscribed < workers:
        if ready.acquire(timeout=0.2):
            subscribed += 1
            continue
        dead = [p.exitcode for p in procs if not p.is_alive()]
        if dead or time.monotonic() > deadline:
            stop.set()
            raise RuntimeError(f"case {case_id}: {subscribed} of {workers} workers ready")
    # One connection per gateway, as in the field: an MQTT listener handles each
    # connection's QoS 1 publishes in order (nats-server stores each before its PUBACK).
    publishers: dict[str, mqtt.Client] = {}
    for topic, _payload in messages:
        if topic not in publishers:
            pub = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"{case_id}-pub{len(publishers)}",
                protocol=bus.protocol,
            )
            pub.max_inflight_messages_set(1000)
            pub.max_queued_messages_set(0)
            pub.connect("127.0.0.1", bus.mqtt_port)
            pub.loop_start()
            publishers[topic] = pub
    stored, last_us, quarantined = 0, None, 0
    try:
        t0_us = time.time_ns() // 1000
        infos = [publishers[topic].publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
        published_us = time.time_ns() // 1000
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stored, last_us, quarantined, _held = _store_progress(store_path)
            if stored >= total or quarantined:
                break
            if any(not p.is_alive() for p in procs):
                raise RuntimeError(f"case {case_id}: a worker exited early")
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
        raise RuntimeError(f"case {case_id}: {stored} of {total} readings stored")
    seconds = (last_us - t0_us) / 1e6
    return {
        "bus": bus.name,
        "batch_size": total // len(messages),
        "workers": workers,
        "readings": total,
        "batches": len(messages),
        "seconds": round(seconds, 3),
        "readings_per_s": round(total / seconds),
        "publish_seconds": round((published_us - t0_us) / 1e6, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings (a smoke run)")
    parser.add_argument("--sizes", default="64", help="comma-separated batch sizes (default 64)")
    parser.add_argument("--readings", type=int, help="readings per case (default 65536)")
    parser.add_argument("--nats-nodes", default="3", help="cluster sizes to run (default 3)")
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = [int(s) for s in args.sizes.split(",")]
    node_counts = [int(n) for n in args.nats_nodes.split(",")]
    readings = args.readings or (8192 if args.quick else 65536)
    per_size = {
        size: max(readings // args.gateways, MIN_BATCHES_PER_GATEWAY * size) for size in sizes
    }
    gateways = make_gateways(args.gateways, max(per_size.values()))
    rows: list[dict[str, Any]] = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    clusters: list[NatsCluster] = []
    try:
        with MosquittoBroker(workdir=workdir) as broker:
            buses = [Bus("mqtt-mosquitto", broker.port, mqtt.MQTTv5, BusConfig(), broker.port)]
            for nodes in node_counts:
                cluster = NatsCluster(size=nodes, workdir=workdir / f"nats{nodes}")
                cluster.start()
                clusters.append(cluster)
                buses.append(
                    Bus(
                        f"nats-r{nodes}",
                        cluster.nodes[0].mqtt_port,
                        mqtt.MQTTv311,
                        BusConfig(kind="nats", servers=tuple(cluster.servers), replicas=nodes),
                        broker.port,
                    )
                )
            for size in sizes:
                messages = seal_all(gateways, size, per_size[size])
                total = per_size[size] * len(gateways)
                for workers in (1, 2):
                    for bus in buses:
                        case_id = f"s{size}-w{workers}-{bus.name}"
                        row = run_case(
                            bus,
                            workdir,
                            gateways,
                            messages,
                            total=total,
                            workers=workers,
                            case_id=case_id,
                            timeout_s=600,
                        )
                        row["load_average"] = [round(x, 2) for x in os.getloadavg()]
                        rows.append(row)
                        log.info(
                            "%-28s %8d readings/s (%.2f s; published in %.2f s)",
                            case_id,
                            row["readings_per_s"],
                            row["seconds"],
                            row["publish_seconds"],
                        )
    finally:
        for cluster in clusters:
            cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def rate(bus: str, size: int, workers: int) -> int:
        return next(
            r["readings_per_s"]
            for r in rows
            if (r["bus"], r["batch_size"], r["workers"]) == (bus, size, workers)
        )

    ratios = {
        f"{r['bus']}/mqtt-mosquitto s{r['batch_size']} w{r['workers']}": round(
            r["readings_per_s"] / rate("mqtt-mosquitto", r["batch_size"], r["workers"]), 2
        )
        for r in rows
        if r["bus"] != "mqtt-mosquitto"
    }
    doc = {
        "benchmark": "bus",
        "unit": "readings/s, MQTT publish to stored verdict",
        "quick": args.quick,
        "cores": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "ratios_to_mqtt": ratios,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    log.info("ratios to MQTT: %s; written to %s", ratios, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
