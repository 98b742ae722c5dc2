"""Verifier throughput: readings/s from MQTT message to stored verdict.

    python -m benchmarks.bench_verifier [--quick] [--sizes 64,256,1024,4096] [--readings N]

For each batch size, worker count (1 and 2 real processes sharing one store through
an MQTT 5 shared subscription) and reading-signature verifier:

* ``native``: the service as shipped (one ``native.verify_batch_packed`` call per batch);
* ``pynacl``: the same pipeline with the reading signatures verified one by one with
  PyNaCl (libsodium), the switch ``BatchProcessor(reading_verifier=...)`` that exists
  for this comparison only;

a private mosquitto is started, the workers subscribe, every batch is published with
QoS 1 and the clock runs from the first publish until the last batch is committed
(its ``accepted_us`` in the store). Batches come from several gateways, as in the
field. Results: ``benchmarks/results/bench_verifier.json``.

``--postgres`` adds, in the same run, the native cases with 1 and 2 workers on a
PostgreSQL store (a private server from edgeseal.testing.postgres, fsync and
synchronous_commit on: as durable as SQLite's ``full``), one fresh database per case;
``--nats [NODES]`` adds the native cases with the NATS JetStream bus (a private
nats-server cluster of NODES nodes, default 1, the stream replicated on each; the
gateways publish with MQTT 3.1.1 to its MQTT listener), on SQLite and, with
``--postgres``, on PostgreSQL; ``--no-pynacl`` leaves out the PyNaCl baseline.
Every gateway publishes on its own MQTT connection, as in the field.

Every native row also carries the pipeline's efficiency (issue 15): its readings/s
over the native batch-verify rate at the same batch size on as many cores (the
``verify_batch_packed`` rate over the same batches in this process, on one core,
times the workers).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    MIN_BATCHES_PER_GATEWAY,
    Bus,
    make_gateways,
    mosquitto_bus,
    native_verify_rate,
    nats_bus,
    run_case,
    seal_all,
)
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.nats_cluster import NatsCluster
from edgeseal.testing.postgres import PostgresServer

log = logging.getLogger("bench_verifier")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_verifier.json"
TARGET_READINGS_PER_S = 100_000  # with 2 workers on the 2-core reference machine
MQTT = "mqtt-mosquitto"


@dataclass(frozen=True)
class Case:
    size: int
    workers: int
    verifier: str  # "native" or "pynacl"
    synchronous: str  # SQLite's; PostgreSQL runs durable ("full")
    store: str  # "sqlite" or "postgresql"
    bus: str  # a Bus name


def cases_for(
    sizes: Sequence[int], verifiers: Sequence[str], *, postgres: bool, nats: str | None
) -> list[Case]:
    """Every case of a run, the ones compared with each other next to each other in time."""
    cases = []
    for size in sizes:
        for workers in (1, 2):
            cases += [Case(size, workers, v, "normal", "sqlite", MQTT) for v in verifiers]
            if workers == 2:  # full durability (fsync per commit) for the shipped setup
                cases.append(Case(size, 2, "native", "full", "sqlite", MQTT))
            if postgres:
                cases.append(Case(size, workers, "native", "full", "postgresql", MQTT))
            if nats is not None:
                cases.append(Case(size, workers, "native", "normal", "sqlite", nats))
                if postgres:
                    cases.append(Case(size, workers, "native", "full", "postgresql", nats))
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer readings and sizes (a smoke run)"
    )
    parser.add_argument("--sizes", help="comma-separated batch sizes (default 64,256,1024,4096)")
    parser.add_argument(
        "--readings",
        type=int,
        help="readings per case (default 65536, quick 8192; raised so that every "
        "gateway publishes at least 8 batches)",
    )
    parser.add_argument(
        "--repeat", type=int, help="runs per case, the best counts (default 2, quick 1)"
    )
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument(
        "--postgres", action="store_true", help="also the native cases on a PostgreSQL store"
    )
    parser.add_argument(
        "--nats",
        type=int,
        nargs="?",
        const=1,
        metavar="NODES",
        help="also the native cases on the NATS JetStream bus (a cluster of NODES, default 1)",
    )
    parser.add_argument("--no-pynacl", action="store_true", help="leave out the PyNaCl baseline")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.nats is not None and args.nats < 1:
        parser.error("--nats: a cluster needs at least one node")
    load_before = os.getloadavg()

    sizes = [
        int(s) for s in (args.sizes or ("64,1024" if args.quick else "64,256,1024,4096")).split(",")
    ]
    readings = args.readings or (8192 if args.quick else 65536)
    repeat = args.repeat or (1 if args.quick else 2)
    # Enough batches per gateway that two workers have something to share at every size.
    per_size = {
        size: max(readings // args.gateways, MIN_BATCHES_PER_GATEWAY * size) for size in sizes
    }
    log.info(
        "signing %d readings for %d gateways", max(per_size.values()) * args.gateways, args.gateways
    )
    gateways = make_gateways(args.gateways, max(per_size.values()))

    verifiers = ("native",) if args.no_pynacl else ("native", "pynacl")
    nats_name = None if args.nats is None else f"nats-r{args.nats}"
    cases = cases_for(sizes, verifiers, postgres=args.postgres, nats=nats_name)
    rows = []
    native_rate: dict[int, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-verifier-"))
    pg: PostgresServer | None = None
    cluster: NatsCluster | None = None
    try:
        if args.postgres:
            pg = PostgresServer(durable=True)
            pg.start()
        with MosquittoBroker(workdir=workdir) as broker:
            buses: dict[str, Bus] = {MQTT: mosquitto_bus(broker)}
            if args.nats is not None:
                cluster = NatsCluster(size=args.nats, workdir=workdir / "nats")
                cluster.start()
                bus = nats_bus(cluster, broker)
                buses[bus.name] = bus
            for size in sizes:
                messages = seal_all(gateways, size, per_size[size])
                total = per_size[size] * len(gateways)
                native_rate[size] = native_verify_rate(gateways, messages)
                log.info(
                    "batch %d: native batch verify %.0f readings/s on one core",
                    size,
                    native_rate[size],
                )
                for case in cases:
                    if case.size != size:
                        continue
                    runs = []
                    for attempt in range(repeat):
                        case_id = (
                            f"s{size}-w{case.workers}-{case.verifier}-{case.synchronous}"
                            f"-{case.store}-{case.bus}-r{attempt}"
                        )
                        runs.append(
                            run_case(
                                buses[case.bus],
                                workdir,
                                gateways,
                                messages,
                                total=total,
                                workers=case.workers,
                                verifier=case.verifier,
                                synchronous=case.synchronous,
                                case_id=case_id,
                                timeout_s=600,
                                postgres=pg if case.store == "postgresql" else None,
                            )
                        )
                        log.info(
                            "%-48s %8d readings/s (%.2f s)",
                            case_id,
                            runs[-1]["readings_per_s"],
                            runs[-1]["seconds"],
                        )
                    row = max(runs, key=lambda r: r["readings_per_s"])
                    row["runs_readings_per_s"] = [r["readings_per_s"] for r in runs]
                    if case.verifier == "native":
                        on_cores = native_rate[size] * case.workers
                        row["native_batch_verify_readings_per_s"] = round(on_cores)
                        row["efficiency"] = round(row["readings_per_s"] / on_cores, 3)
                    rows.append(row)
    finally:
        if cluster is not None:
            cluster.close()
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def best(workers: int, verifier: str, sync: str = "normal", store: str = "sqlite") -> int:
        return max(
            (
                r["readings_per_s"]
                for r in rows
                if (r["workers"], r["verifier"], r["synchronous"], r["store"], r["bus"])
                == (workers, verifier, sync, store, MQTT)
            ),
            default=0,
        )

    def baseline(row: dict[str, Any]) -> int:
        """The PyNaCl figure of the same batch size, worker count, durability and bus."""
        same = ("batch_size", "workers", "synchronous", "store", "bus")
        return next(
            p["readings_per_s"]
            for p in rows
            if p["verifier"] == "pynacl" and all(p[k] == row[k] for k in same)
        )

    def key(r: dict[str, Any]) -> str:
        return f"{r['batch_size']}/w{r['workers']}"

    speedups = (
        {}
        if args.no_pynacl
        else {
            key(r): round(r["readings_per_s"] / baseline(r), 2)
            for r in rows
            if r["verifier"] == "native"
            and r["synchronous"] == "normal"
            and r["store"] == "sqlite"
            and r["bus"] == MQTT
        }
    )
    postgres_rows = {
        key(r): r["readings_per_s"] for r in rows if r["store"] == "postgresql" and r["bus"] == MQTT
    }
    nats_rows = {f"{key(r)}/{r['store']}": r["readings_per_s"] for r in rows if r["bus"] != MQTT}
    efficiency = {
        f"{key(r)}/{r['store']}-{r['synchronous']}/{r['bus']}": r["efficiency"]
        for r in rows
        if "efficiency" in r
    }
    doc = {
        "benchmark": "verifier",
        "unit": "readings/s, MQTT publish to stored verdict",
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.bench_verifier", *(argv or sys.argv[1:])]
        ),
        "quick": args.quick,
        "repeat": repeat,
        "note": "best of `repeat` runs per case; measured on a shared machine unless stated",
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "target_readings_per_s_2_workers": TARGET_READINGS_PER_S,
        "best_native_2_workers": best(2, "native"),
        "best_native_2_workers_fsync": best(2, "native", "full"),
        "best_native_1_worker": best(1, "native"),
        "best_pynacl_2_workers": best(2, "pynacl"),
        "native_over_pynacl": speedups,
        "postgresql_readings_per_s": postgres_rows,
        "nats_readings_per_s": nats_rows,
        "native_batch_verify_readings_per_s_one_core": {
            str(size): round(rate) for size, rate in native_rate.items()
        },
        "efficiency": efficiency,
        "meets_target": best(2, "native") >= TARGET_READINGS_PER_S,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    log.info(
        "best with 2 workers: native %d readings/s, PyNaCl one by one %d; written to %s",
        doc["best_native_2_workers"],
        doc["best_pynacl_2_workers"],
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
