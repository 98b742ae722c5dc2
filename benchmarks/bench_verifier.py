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
``--no-pynacl`` leaves out the PyNaCl baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing as mp
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.agent.seal import raw_public_key, seal_batch
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.config import MqttConfig, StoreConfig, VerifierConfig
from edgeseal.verifier.log_config import LogConfig
from edgeseal.wire.batch import ZERO_HASH, SealedBatch
from edgeseal.wire.record import RecordEncoder
from edgeseal.wire.topics import Topics

log = logging.getLogger("bench_verifier")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_verifier.json"
TARGET_READINGS_PER_S = 100_000  # with 2 workers on the 2-core reference machine
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


def _worker_main(
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


_PROGRESS = (
    "SELECT COALESCE(SUM(count), 0), MAX(accepted_us) FROM batches",
    "SELECT COUNT(*) FROM quarantine",
    "SELECT COUNT(*) FROM pending",
)


def _store_progress(path: Path | str) -> tuple[int, int | None, int, int]:
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


def run_case(
    broker: MosquittoBroker,
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
    """One run; ``log``: the workers' [log] section, ``log_entries=False``: a store
    without the transparency log (bench_log's baseline); ``postgres``: the store is a
    new database of that server instead of a SQLite file."""
    store_path = workdir / f"{case_id}.sqlite"
    url = ""
    if postgres is not None:
        url = postgres.create_database(case_id.replace("-", "_"))
    progress: Path | str = url or store_path
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    group = f"bench-{case_id}"
    ready = ctx.Semaphore(0)
    procs = []
    for w in range(workers):
        config = VerifierConfig(
            mqtt=MqttConfig(
                host=broker.host,
                port=broker.port,
                client_id=f"{case_id}-w{w}",
                group=group,
                session_expiry_s=60,
                keepalive_s=30,
            ),
            store=StoreConfig(path=store_path, synchronous=synchronous, url=url),
            gateways={g.gateway_id: raw_public_key(g.key) for g in gateways},
            log=log if log is not None else LogConfig(),
        )
        p = ctx.Process(
            target=_worker_main,
            args=(config, verifier, stop, ready, log_entries),
            name=f"worker-{w}",
        )
        p.start()
        procs.append(p)
    subscribed, deadline = 0, time.monotonic() + 60
    while subscribed < workers:  # every worker's shared subscription is in place
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
    pub = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"{case_id}-pub", protocol=mqtt.MQTTv5
    )
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        t0_us = time.time_ns() // 1000
        infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
        published_us = time.time_ns() // 1000
        deadline = time.monotonic() + timeout_s
        stored, last_us, quarantined, held = 0, None, 0, 0
        while time.monotonic() < deadline:
            stored, last_us, quarantined, held = _store_progress(progress)
            if stored >= total or quarantined:
                break
            dead = [p for p in procs if not p.is_alive()]
            if dead:
                raise RuntimeError(
                    f"case {case_id}: worker(s) exited early: {[p.exitcode for p in dead]}"
                )
            time.sleep(0.05)
    finally:
        pub.loop_stop()
        pub.disconnect()
        stop.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    if stored != total or quarantined or last_us is None:
        raise RuntimeError(
            f"case {case_id}: {stored} of {total} readings stored, {quarantined} quarantined, {held} held"
        )
    seconds = (last_us - t0_us) / 1e6
    return {
        "batch_size": len(messages) and total // len(messages),
        "workers": workers,
        "verifier": verifier,
        "synchronous": synchronous,
        "store": "postgresql" if url else "sqlite",
        "readings": total,
        "batches": len(messages),
        "seconds": round(seconds, 3),
        "readings_per_s": round(total / seconds),
        "publish_seconds": round((published_us - t0_us) / 1e6, 3),
    }


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
    parser.add_argument("--no-pynacl", action="store_true", help="leave out the PyNaCl baseline")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

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
    cases = [
        (size, workers, verifier, "normal")
        for size in sizes
        for workers in (1, 2)
        for verifier in verifiers
    ]
    # Full durability (fsync per commit) for the shipped configuration at 2 workers.
    cases += [(size, 2, "native", "full") for size in sizes]
    if args.postgres:
        cases += [(size, workers, "native", "postgres") for size in sizes for workers in (1, 2)]
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-verifier-"))
    pg: PostgresServer | None = None
    try:
        if args.postgres:
            pg = PostgresServer(durable=True)
            pg.start()
        with MosquittoBroker(workdir=workdir) as broker:
            for size in sizes:
                messages = seal_all(gateways, size, per_size[size])
                total = per_size[size] * len(gateways)
                for case_size, workers, verifier, sync in cases:
                    if case_size != size:
                        continue
                    runs = []
                    for attempt in range(repeat):
                        case_id = f"s{size}-w{workers}-{verifier}-{sync}-r{attempt}"
                        runs.append(
                            run_case(
                                broker,
                                workdir,
                                gateways,
                                messages,
                                total=total,
                                workers=workers,
                                verifier=verifier,
                                synchronous="full" if sync == "postgres" else sync,
                                case_id=case_id,
                                timeout_s=600,
                                postgres=pg if sync == "postgres" else None,
                            )
                        )
                        log.info(
                            "%-30s %8d readings/s (%.2f s)",
                            case_id,
                            runs[-1]["readings_per_s"],
                            runs[-1]["seconds"],
                        )
                    row = max(runs, key=lambda r: r["readings_per_s"])
                    row["runs_readings_per_s"] = [r["readings_per_s"] for r in runs]
                    rows.append(row)
    finally:
        if pg is not None:
            pg.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def best(workers: int, verifier: str, sync: str = "normal", store: str = "sqlite") -> int:
        return max(
            (
                r["readings_per_s"]
                for r in rows
                if (r["workers"], r["verifier"], r["synchronous"], r["store"])
                == (workers, verifier, sync, store)
            ),
            default=0,
        )

    def baseline(row: dict[str, Any]) -> int:
        """The PyNaCl figure of the same batch size, worker count and durability."""
        same = ("batch_size", "workers", "synchronous", "store")
        return next(
            p["readings_per_s"]
            for p in rows
            if p["verifier"] == "pynacl" and all(p[k] == row[k] for k in same)
        )

    speedups = (
        {}
        if args.no_pynacl
        else {
            f"{r['batch_size']}/w{r['workers']}": round(r["readings_per_s"] / baseline(r), 2)
            for r in rows
            if r["verifier"] == "native" and r["synchronous"] == "normal" and r["store"] == "sqlite"
        }
    )
    postgres_rows = {
        f"{r['batch_size']}/w{r['workers']}": r["readings_per_s"]
        for r in rows
        if r["store"] == "postgresql"
    }
    doc = {
        "benchmark": "verifier",
        "unit": "readings/s, MQTT publish to stored verdict",
        "quick": args.quick,
        "repeat": repeat,
        "note": "best of `repeat` runs per case; measured on a shared machine unless stated",
        "cores": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "target_readings_per_s_2_workers": TARGET_READINGS_PER_S,
        "best_native_2_workers": best(2, "native"),
        "best_native_2_workers_fsync": best(2, "native", "full"),
        "best_native_1_worker": best(1, "native"),
        "best_pynacl_2_workers": best(2, "pynacl"),
        "native_over_pynacl": speedups,
        "postgresql_readings_per_s": postgres_rows,
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
