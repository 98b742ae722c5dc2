"""The scale model's inputs: what one reading costs at each stage of the back end.

    python -m benchmarks.bench_scale [--quick] [--gateways N] [--repeat N]

1. **Stage costs**, in this process, CPU time per reading at batch 64 (the best of
   ``--repeat`` passes over the same batches from 4 gateways):
   ``decode`` (payload to header and leaves, ``decode.decode_batch``), ``contents``
   (records decoded column-wise, time bounds, duplicates, Merkle root:
   ``checks.check_contents``), ``verify`` (header signature and one native batch call
   for the readings: ``checks.check_signatures``), and ``store``: the real pipeline
   (``BatchProcessor.handle_many`` in groups of 64 messages, as a worker settles its
   backlog, into a fresh SQLite store) minus the three stages before it.
2. **Bus costs**: a private mosquitto carries the same batches (QoS 1) to one consumer
   process on a shared subscription that answers each with a verdict-sized QoS 1
   message, as a worker does; the broker's and the consumer's CPU seconds per reading.
3. **The simulated fleet**: ``--gateways`` gateways (default 10 000, quick 1000), each
   with its own pre-generated key (signed with ``cryptography``, no devices), one batch
   of 64 readings each, interleaved, fed through the same pipeline into one store. Its
   CPU per reading and stored bytes per reading are compared with what stage 1
   predicts: the model's per-reading figures, checked at the largest fleet this run holds.
4. **Pipeline efficiency** (issue 15): end-to-end readings/s (``bench_verifier``'s
   ``run_case``: mosquitto, real worker processes, batch 64) with 1 and 2 workers, over
   the native batch-verify rate at the same batch size on as many cores (the
   ``verify_batch_packed`` rate of stage 1 times the workers).
5. **PostgreSQL**: stage 1's pipeline into a PostgreSQL store (a private server on
   loopback, fsync on): the worker's and the server's CPU and the wall time per reading.

Results: ``benchmarks/results/bench_scale.json``; docs/scaling.md turns them into the
model for 10^4, 10^6 and 10^8 gateways.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from benchmarks.harness import Gateway, make_gateways, mosquitto_bus, run_case, seal_all
from edgeseal.agent.seal import raw_public_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.checks import check_contents, check_signatures, native_reading_verifier
from edgeseal.verifier.decode import decode_batch
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.trust import TrustStore
from edgeseal.wire.topics import Topics

log = logging.getLogger("bench_scale")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_scale.json"
BATCH_SIZE = 64
GROUP = 64  # messages settled per write transaction (service.MAX_GROUP_MESSAGES)
STAGE_GATEWAYS = 4
VERDICT_BYTES = 400  # about the size of a signed verdict message (JSON)


def _cpu() -> float:
    return time.process_time()


def stage_costs(
    workdir: Path, gateways: Sequence[Gateway], messages: list[tuple[str, bytes]], repeat: int
) -> dict[str, Any]:
    """CPU microseconds per reading of each stage, best of ``repeat`` passes."""
    topics = Topics()
    keys = {g.gateway_id: raw_public_key(g.key) for g in gateways}
    trust = TrustStore(keys)
    readings = len(messages) * BATCH_SIZE
    best: dict[str, float] = {}

    def keep(stage: str, seconds: float) -> None:
        best[stage] = min(best.get(stage, seconds), seconds)

    for attempt in range(repeat):
        started = _cpu()
        decoded = [decode_batch(topics, t, p).sealed for t, p in messages]
        keep("decode", _cpu() - started)
        started = _cpu()
        for sealed in decoded:
            check_contents(sealed)
        keep("contents", _cpu() - started)
        started = _cpu()
        for sealed in decoded:
            check_signatures(sealed, keys[sealed.header.gateway_id])
        keep("verify", _cpu() - started)
        started = _cpu()
        for sealed in decoded:
            native_reading_verifier(keys[sealed.header.gateway_id], sealed)
        keep("batch_verify_native", _cpu() - started)
        path = workdir / f"stages-{attempt}.sqlite"
        with VerifierStore(path, synchronous="normal") as store:
            processor = BatchProcessor(store, trust, worker="bench")
            started, wall = _cpu(), time.perf_counter()
            for i in range(0, len(messages), GROUP):
                processor.handle_many(messages[i : i + GROUP])
            keep("pipeline", _cpu() - started)
            keep("pipeline_wall", time.perf_counter() - wall)
            assert store.reading_count() == readings, "the pipeline did not accept every reading"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    us = {stage: seconds / readings * 1e6 for stage, seconds in best.items()}
    us["store"] = us["pipeline"] - us["decode"] - us["contents"] - us["verify"]
    return {
        "readings": readings,
        "batch_size": BATCH_SIZE,
        "us_per_reading": {k: round(v, 3) for k, v in us.items()},
        "native_batch_verify_readings_per_s": round(1e6 / us["batch_verify_native"]),
        "pipeline_readings_per_s_one_core": round(1e6 / us["pipeline"]),
        # The in-process pipeline against its verify stage alone: the ceiling of the
        # end-to-end ratio, before any bus.
        "in_process_efficiency": round(us["batch_verify_native"] / us["pipeline"], 3),
    }


def _server_cpu_seconds(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster and its children."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    total = _proc_cpu_seconds(postmaster)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == postmaster:
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _database_bytes(url: str) -> float:
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert size is not None
    return float(size[0])


def postgres_costs(
    messages: list[tuple[str, bytes]], trust: TrustStore, stages: dict[str, Any], repeat: int
) -> dict[str, Any]:
    """The same pipeline into a PostgreSQL store (a private server on loopback, fsync on):
    the worker's CPU, the server's CPU and the wall time per reading."""
    readings = len(messages) * BATCH_SIZE
    best: dict[str, float] = {}
    with PostgresServer(durable=True) as server:
        empty = server.create_database("empty")
        VerifierStore(empty).close()  # its schema, without readings
        empty_bytes = _database_bytes(empty)
        for attempt in range(repeat):
            url = server.create_database(f"stages_{attempt}")
            with VerifierStore(url) as store:
                processor = BatchProcessor(store, trust, worker="bench")
                server_cpu = _server_cpu_seconds(server)
                cpu, wall = _cpu(), time.perf_counter()
                for i in range(0, len(messages), GROUP):
                    processor.handle_many(messages[i : i + GROUP])
                for stage, seconds in (
                    ("pipeline", _cpu() - cpu),
                    ("pipeline_wall", time.perf_counter() - wall),
                    ("server", _server_cpu_seconds(server) - server_cpu),
                ):
                    best[stage] = min(best.get(stage, seconds), seconds)
                if store.reading_count() != readings:
                    raise RuntimeError("the PostgreSQL pipeline did not accept every reading")
            best["bytes"] = _database_bytes(url) - empty_bytes
    database_bytes = best.pop("bytes")
    us = {stage: seconds / readings * 1e6 for stage, seconds in best.items()}
    checks = sum(stages["us_per_reading"][k] for k in ("decode", "contents", "verify"))
    us["store_worker"] = us["pipeline"] - checks
    return {
        "readings": readings,
        "us_per_reading": {k: round(v, 3) for k, v in us.items()},
        "pipeline_readings_per_s_wall": round(readings / best["pipeline_wall"]),
        # The database's growth (over an empty store's) per reading stored.
        "database_bytes_per_reading": round(database_bytes / readings, 1),
    }


def _proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _broker_pid(broker: MosquittoBroker) -> int:
    """The pid of ``broker``'s mosquitto (found by its configuration file)."""
    assert broker.workdir is not None
    conf = str(broker.workdir / "mosquitto.conf")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if conf in (entry / "cmdline").read_bytes().decode(errors="replace"):
                return int(entry.name)
        except OSError:
            continue
    raise RuntimeError("the benchmark's mosquitto process was not found")


def _consumer(port: int, expected: int, ready: Any, results: Any) -> None:
    """A worker's bus side only: shared subscription, QoS 1, a verdict back per batch.
    Reports its CPU seconds from the first batch to the last."""
    got, first_cpu = 0, 0.0
    done = threading.Event()
    verdict = b"v" * VERDICT_BYTES
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-scale-consumer", protocol=mqtt.MQTTv5
    )

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal got, first_cpu
        if got == 0:
            first_cpu = time.process_time()
        got += 1
        c.publish(msg.topic.rsplit("/", 1)[0] + "/verdict", verdict, qos=1)
        if got == expected:
            done.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe("$share/bench/edgeseal/v1/+/batch", qos=1)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(600)
    results.put((time.process_time() - first_cpu, got))
    client.loop_stop()
    client.disconnect()


def bus_costs(workdir: Path, messages: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Broker and consumer CPU per reading for ``messages`` published with QoS 1."""
    ctx = mp.get_context("fork")
    (workdir / "bus").mkdir()
    with MosquittoBroker(workdir=workdir / "bus") as broker:
        ready, results = ctx.Event(), ctx.Queue()
        consumer = ctx.Process(target=_consumer, args=(broker.port, len(messages), ready, results))
        consumer.start()
        try:
            if not ready.wait(30):
                raise RuntimeError("the bus consumer did not subscribe")
            pid = _broker_pid(broker)
            publisher = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2, client_id="bench-scale-pub", protocol=mqtt.MQTTv5
            )
            publisher.max_inflight_messages_set(1000)
            publisher.max_queued_messages_set(0)
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            broker_before = _proc_cpu_seconds(pid)
            wall = time.perf_counter()
            infos = [publisher.publish(t, p, qos=1) for t, p in messages]
            for info in infos:
                info.wait_for_publish(120)
            consumer_cpu, got = results.get(timeout=600)
            elapsed = time.perf_counter() - wall
            time.sleep(0.2)  # the last verdicts' acknowledgements
            broker_cpu = _proc_cpu_seconds(pid) - broker_before
            publisher.loop_stop()
            publisher.disconnect()
        finally:
            consumer.join(10)
            if consumer.is_alive():
                consumer.kill()
    if got != len(messages):
        raise RuntimeError(f"the consumer got {got} of {len(messages)} batches")
    readings = len(messages) * BATCH_SIZE
    payload = sum(len(p) for _t, p in messages)
    return {
        "batches": len(messages),
        "readings": readings,
        "payload_bytes_per_reading": round(payload / readings, 1),
        "broker_us_per_reading": round(broker_cpu / readings * 1e6, 3),
        "consumer_us_per_reading": round(consumer_cpu / readings * 1e6, 3),
        "seconds": round(elapsed, 3),
    }


def _sign_slice(first: int, count: int) -> list[tuple[bytes, list[bytes], list[bytes], list[int]]]:
    return [
        (
            g.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
            g.records,
            g.signatures,
            g.times,
        )
        for g in make_gateways(count, BATCH_SIZE, first=first)
    ]


def fleet(n_gateways: int) -> list[Gateway]:
    """``n_gateways`` gateways with one batch's worth of signed readings each, signed
    on every core (signing is the slow part of the generator, not of the benchmark)."""
    cores = os.cpu_count() or 1
    step = -(-n_gateways // cores)
    slices = [(first, min(step, n_gateways - first)) for first in range(0, n_gateways, step)]
    with mp.get_context("fork").Pool(cores) as pool:
        parts = pool.starmap(_sign_slice, slices)
    return [
        Gateway(
            f"bench-gw-{first + i}",
            Ed25519PrivateKey.from_private_bytes(raw),
            records,
            signatures,
            times,
        )
        for (first, _count), part in zip(slices, parts)
        for i, (raw, records, signatures, times) in enumerate(part)
    ]


def _store_bytes(path: Path) -> int:
    """The store's size once its write-ahead log is folded in."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def simulated_fleet(workdir: Path, n_gateways: int, stages: dict[str, Any]) -> dict[str, Any]:
    """One batch from each of ``n_gateways`` gateways through the pipeline into a store;
    its per-reading CPU against stage 1's prediction."""
    started = time.perf_counter()
    gateways = fleet(n_gateways)
    messages = seal_all(gateways, BATCH_SIZE, BATCH_SIZE)
    generated_s = time.perf_counter() - started
    trust = TrustStore({g.gateway_id: raw_public_key(g.key) for g in gateways})
    path = workdir / "fleet.sqlite"
    readings = len(messages) * BATCH_SIZE
    with VerifierStore(path, synchronous="normal") as store:
        processor = BatchProcessor(store, trust, worker="bench")
        cpu, wall = _cpu(), time.perf_counter()
        for i in range(0, len(messages), GROUP):
            processor.handle_many(messages[i : i + GROUP])
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        stored = store.reading_count()
        heads = len(store.chain_heads())
    if stored != readings or heads != n_gateways:
        raise RuntimeError(f"simulated fleet: {stored} of {readings} readings, {heads} chains")
    size = _store_bytes(path)
    us = cpu / readings * 1e6
    predicted = stages["us_per_reading"]["pipeline"]
    return {
        "gateways": n_gateways,
        "readings": readings,
        "generate_seconds": round(generated_s, 1),
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        "readings_per_s_one_core": round(readings / wall),
        "us_per_reading": round(us, 3),
        "us_per_reading_predicted": predicted,
        "measured_over_predicted": round(us / predicted, 3),
        "store_bytes_per_reading": round(size / readings, 1),
    }


def efficiency(
    workdir: Path,
    gateways: Sequence[Gateway],
    messages: list[tuple[str, bytes]],
    native_rate: float,
    repeat: int,
) -> dict[str, Any]:
    """End-to-end readings/s (1 and 2 workers, best of ``repeat``) over the native
    batch-verify rate on as many cores."""
    rows: dict[str, Any] = {}
    total = len(messages) * BATCH_SIZE
    (workdir / "e2e").mkdir()
    with MosquittoBroker(workdir=workdir / "e2e") as broker:
        for workers in (1, 2):
            runs = [
                run_case(
                    mosquitto_bus(broker),
                    workdir,
                    gateways,
                    messages,
                    total=total,
                    workers=workers,
                    verifier="native",
                    synchronous="normal",
                    case_id=f"scale-w{workers}-r{attempt}",
                    timeout_s=600,
                )["readings_per_s"]
                for attempt in range(repeat)
            ]
            rows[f"w{workers}"] = {
                "readings_per_s": max(runs),
                "runs_readings_per_s": runs,
                "native_batch_verify_readings_per_s": round(native_rate * workers),
                "ratio": round(max(runs) / (native_rate * workers), 3),
            }
            log.info("end to end, %d worker(s): %s", workers, rows[f"w{workers}"])
    return rows


FLEETS = (10_000, 1_000_000, 100_000_000)
READINGS_PER_GATEWAY_S = 1.0  # the model's stated load: one reading per second per gateway
DAY_S = 86_400


def scale_model(
    result: dict[str, Any], rate: float = READINGS_PER_GATEWAY_S
) -> list[dict[str, Any]]:
    """What 10^4, 10^6 and 10^8 gateways at ``rate`` readings/s each need, from the
    measured per-reading figures of ``result`` (CPU fully busy: plan headroom on top)."""
    us = result["stages"]["us_per_reading"]
    pg = result["postgres"]["us_per_reading"]
    bus = result["bus"]
    checks = us["decode"] + us["contents"] + us["verify"]
    # As if one store ran its write transactions one at a time (SQLite does; PostgreSQL
    # now locks per gateway, so for it this is a lower bound): the store work of every
    # reading, the worker's and the server's, runs one at a time.
    store_ceiling = 1e6 / (pg["store_worker"] + pg["server"])
    rows = []
    for gateways in FLEETS:
        r = gateways * rate
        rows.append(
            {
                "gateways": gateways,
                "readings_per_s": r,
                "verify_cores": round(r * checks / 1e6, 2),
                "worker_cores_sqlite": round(
                    r * (us["pipeline"] + bus["consumer_us_per_reading"]) / 1e6, 2
                ),
                "worker_cores_postgres": round(
                    r * (checks + pg["store_worker"] + bus["consumer_us_per_reading"]) / 1e6, 2
                ),
                "database_server_cores_postgres": round(r * pg["server"] / 1e6, 2),
                "broker_cores_mqtt": round(r * bus["broker_us_per_reading"] / 1e6, 3),
                "database_rows_per_s": round(r * (1 + 2 / BATCH_SIZE)),  # readings, batches, log
                "database_bytes_per_day_sqlite": round(
                    r * DAY_S * result["simulated_fleet"]["store_bytes_per_reading"]
                ),
                "database_bytes_per_day_postgres": round(
                    r * DAY_S * result["postgres"]["database_bytes_per_reading"]
                ),
                "bus_batches_per_s": round(r / BATCH_SIZE, 1),
                "bus_bytes_per_s_in": round(r * bus["payload_bytes_per_reading"]),
                "bus_bytes_per_s_out": round(r / BATCH_SIZE * VERDICT_BYTES),
                "store_ceiling_readings_per_s": round(store_ceiling),
                # At half the ceiling each, so that a partition can catch up after an outage.
                "partitions_min": max(1, -(-int(r) // int(store_ceiling / 2))),
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller fleet and stage runs")
    parser.add_argument("--gateways", type=int, help="simulated fleet (default 10000, quick 1000)")
    parser.add_argument(
        "--readings", type=int, help="stage-cost readings (default 65536, quick 16384)"
    )
    parser.add_argument("--repeat", type=int, help="passes per stage, best counts (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--model-from",
        type=Path,
        help="print the scale model from an earlier result file, and measure nothing",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.model_from is not None:
        print(json.dumps(scale_model(json.loads(args.model_from.read_text())), indent=1))
        return 0
    n_gateways = args.gateways or (1000 if args.quick else 10_000)
    readings = args.readings or (16384 if args.quick else 65536)
    repeat = args.repeat or (2 if args.quick else 3)
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        per_gateway = readings // STAGE_GATEWAYS
        gateways = make_gateways(STAGE_GATEWAYS, per_gateway)
        messages = seal_all(gateways, BATCH_SIZE, per_gateway)
        stages = stage_costs(workdir, gateways, messages, repeat)
        log.info("stage costs (us per reading): %s", stages["us_per_reading"])
        bus = bus_costs(workdir, messages)
        log.info("bus costs: %s", bus)
        simulated = simulated_fleet(workdir, n_gateways, stages)
        log.info("simulated fleet: %s", simulated)
        trust = TrustStore({g.gateway_id: raw_public_key(g.key) for g in gateways})
        postgres = postgres_costs(messages, trust, stages, repeat)
        log.info("PostgreSQL store: %s", postgres)
        ratios = efficiency(
            workdir, gateways, messages, stages["native_batch_verify_readings_per_s"], repeat
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "benchmark": "scale",
        "unit": "CPU microseconds per reading; readings/s",
        "quick": args.quick,
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.bench_scale", *(argv or sys.argv[1:])]
        ),
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "stages": stages,
        "postgres": postgres,
        "bus": bus,
        "simulated_fleet": simulated,
        "efficiency": ratios,
        # The CPU the back end spends per reading (worker stages, its bus client, the
        # broker) against the native batch verification alone: the wall-clock ratio's
        # ceiling on a machine whose cores all work for the verifier.
        "cpu_efficiency": round(
            stages["us_per_reading"]["batch_verify_native"]
            / (
                stages["us_per_reading"]["pipeline"]
                + bus["consumer_us_per_reading"]
                + bus["broker_us_per_reading"]
            ),
            3,
        ),
        "model_readings_per_gateway_s": READINGS_PER_GATEWAY_S,
        "ratios": {
            "efficiency_batch64_w1": ratios["w1"]["ratio"],
            "efficiency_batch64_w2": ratios["w2"]["ratio"],
            "fleet_measured_over_predicted": simulated["measured_over_predicted"],
        },
    }
    result["model"] = scale_model(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
