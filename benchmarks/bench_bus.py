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
ratios NATS/MQTT compare runs under the same machine load. The harness is
``benchmarks/harness.py``, shared with ``bench_verifier``, whose ``--nats`` runs the
same bus beside SQLite and PostgreSQL stores at several batch sizes.
Results: ``benchmarks/results/bench_bus.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    MIN_BATCHES_PER_GATEWAY,
    make_gateways,
    mosquitto_bus,
    nats_bus,
    run_case,
    seal_all,
)
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.nats_cluster import NatsCluster

log = logging.getLogger("bench_bus")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_bus.json"
MQTT = "mqtt-mosquitto"


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
            buses = [mosquitto_bus(broker)]
            for nodes in node_counts:
                cluster = NatsCluster(size=nodes, workdir=workdir / f"nats{nodes}")
                cluster.start()
                clusters.append(cluster)
                buses.append(nats_bus(cluster, broker))
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
                            verifier="native",
                            synchronous="normal",
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
            r["readings_per_s"] / rate(MQTT, r["batch_size"], r["workers"]), 2
        )
        for r in rows
        if r["bus"] != MQTT
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
