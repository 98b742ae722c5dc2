"""Gateway agent throughput: decoded readings -> signed, stored, sealed, PUBACKed batches.

Readings are fed straight into the agent's pipeline (no serial line) in bursts,
as DeviceLinks.events() would hand them over; each burst is signed and stored
in one SQLite transaction (WAL, synchronous=FULL), batches of ``max_readings``
are sealed and published at QoS 1 to a private mosquitto on 127.0.0.1, and the
clock stops when the broker has acknowledged the last batch. The process is
pinned to one CPU (mosquitto runs on another when there is one).

Baselines, measured in the same run: Ed25519 signing alone (cryptography) over
the same records, the unavoidable per-reading CPU cost (``overhead_vs_sign`` is
the pipeline's wall time per reading divided by it); and one durable SQLite
commit in the same temporary directory, the storage latency each burst and each
sealed batch waits for (wall time per reading is roughly cpu + 2 commits / burst).
``cpu_bound_readings_per_s`` is 1 / CPU time per reading: what the pipeline
does on one core when storage latency overlaps with arriving events.

    python3 -m benchmarks.bench_agent            # full run
    python3 -m benchmarks.bench_agent --quick    # fewer readings

Prints a table and writes benchmarks/results/bench_agent.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeseal.agent.config import AgentConfig, parse_config
from edgeseal.agent.identity import GatewayKey
from edgeseal.agent.metrics import AgentMetrics
from edgeseal.agent.outbox import Outbox
from edgeseal.agent.pipeline import Pipeline
from edgeseal.agent.publisher import BatchPublisher
from edgeseal.agent.rotation import KeyPlan
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.wire.record import RecordEncoder

RESULTS = Path(__file__).resolve().parent / "results" / "bench_agent.json"
TARGETS = {"readings_per_s": 10_000.0, "peak_rss_mb": 80.0}
GATEWAY = "gw-bench"


@dataclass(frozen=True)
class Row:
    burst: int  # readings per event burst (one SQLite transaction each)
    batch: int  # readings per sealed batch
    readings: int
    seconds: float
    readings_per_s: float
    cpu_seconds: float
    cpu_per_reading_us: float
    cpu_bound_readings_per_s: float  # 1 / CPU time per reading: what one idle core could do
    us_per_reading: float
    overhead_vs_sign: float
    batches: int


def make_readings(n: int, device: int = 1, boot: int = 0xB007) -> list[Reading]:
    return [
        Reading(
            device_id=device,
            boot_id=boot,
            seq=s,
            channel=s % 4,
            unit=1,
            mantissa=2150 + s % 97,
            exponent=-2,
            time_kind=1,
            device_time_ms=1_700_000_000_000 + s,
        )
        for s in range(1, n + 1)
    ]


def sign_baseline_us(key: GatewayKey, n: int) -> float:
    """Microseconds per reading to encode and sign it, nothing else."""
    enc = RecordEncoder(GATEWAY)
    records = [
        enc.encode(
            device_id=1,
            boot_id=2,
            device_seq=s,
            channel=0,
            unit=1,
            mantissa=s,
            exponent=-2,
            time_kind=1,
            device_time_ms=s,
            gateway_time_us=1_700_000_000_000_000 + s,
        )
        for s in range(n)
    ]
    sign = key.private_key.sign
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for r in records:
            sign(r)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def commit_baseline_ms(directory: Path, n: int = 40) -> float:
    """Milliseconds per durable (WAL, synchronous=FULL) one-row SQLite commit here: the
    storage latency every burst and every seal pays before its ACK or publish."""
    import sqlite3

    db = sqlite3.connect(str(directory / "fsync-probe.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x BLOB)")
    t0 = time.perf_counter()
    for _ in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 170,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    db.close()
    return elapsed / n * 1e3


class NullAcks:
    def __init__(self) -> None:
        self.last = 0

    def ack(self, device_id: int, boot_id: int, seq: int) -> None:
        self.last = seq


def config_for(tmp: Path, port: int, batch: int) -> AgentConfig:
    return parse_config(
        {
            "gateway": {"id": GATEWAY, "key_path": "unused"},
            "batch": {"max_readings": batch, "max_delay_s": 1.0},
            "outbox": {"path": str(tmp / "outbox.sqlite"), "max_bytes": 1 << 30},
            "mqtt": {"port": port, "max_inflight": 16},
        },
        base=tmp,
        env={},
    )


def run_pipeline(broker: MosquittoBroker, n: int, burst: int, batch: int, sign_us: float) -> Row:
    with tempfile.TemporaryDirectory(prefix="edgeseal-bench-agent-") as d:
        cfg = config_for(Path(d), broker.port, batch)
        outbox = Outbox(cfg.outbox.path, gateway_id=GATEWAY, max_bytes=cfg.outbox.max_bytes)
        metrics = AgentMetrics()
        publisher = BatchPublisher(cfg.mqtt, GATEWAY)
        key = GatewayKey.generate()
        pipeline = Pipeline(
            config=cfg, outbox=outbox, keys=KeyPlan(key, None), publisher=publisher, metrics=metrics
        )
        publisher.start()
        if not publisher.wait_connected(10):
            raise RuntimeError(f"no connection to mosquitto on port {broker.port}")
        readings = make_readings(n)
        acks = NullAcks()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        for i in range(0, n, burst):
            pipeline.handle_readings(readings[i : i + burst], acks)
            pipeline.seal_due()
            pipeline.pump_publisher()
        if not pipeline.flush(acks, timeout=60):
            raise RuntimeError("the broker did not acknowledge every batch within 60 s")
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        sealed = int(metrics.batches_sealed._value.get())
        assert acks.last == n and outbox.batch_count == 0 and outbox.pending_count == 0
        publisher.stop(timeout=1)
        outbox.close()
    us = seconds / n * 1e6
    cpu_us = cpu / n * 1e6
    return Row(
        burst, batch, n, seconds, n / seconds, cpu, cpu_us, 1e6 / cpu_us, us, us / sign_us, sealed
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings")
    parser.add_argument("--readings", type=int, default=None, help="readings per configuration")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    n = args.readings or (10_000 if args.quick else 60_000)

    cpus = sorted(os.sched_getaffinity(0))
    agent_cpu = cpus[0]
    with tempfile.TemporaryDirectory(prefix="edgeseal-bench-broker-") as bdir:
        broker = MosquittoBroker(workdir=Path(bdir))
        broker.start()
        try:
            if len(cpus) > 1 and broker._process is not None:
                os.sched_setaffinity(broker._process.pid, set(cpus[1:]))
            os.sched_setaffinity(0, {agent_cpu})  # the agent (and paho's thread) on one core
            key = GatewayKey.generate()
            sign_us = sign_baseline_us(key, min(n, 5000))
            with tempfile.TemporaryDirectory(prefix="edgeseal-bench-fsync-") as probe:
                commit_ms = commit_baseline_ms(Path(probe))
            rows = []
            for burst, batch in ((16, 256), (64, 256), (256, 256), (256, 1024)):
                rows.append(run_pipeline(broker, n, burst, batch, sign_us))
        finally:
            broker.close()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    best = max(r.readings_per_s for r in rows)
    doc = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "pinned_cpu": agent_cpu,
            "load_avg": os.getloadavg(),
        },
        "sign_baseline_us_per_reading": sign_us,
        "sign_baseline_readings_per_s": 1e6 / sign_us,
        "durable_commit_baseline_ms": commit_ms,
        "best_readings_per_s": best,
        "peak_rss_mb": peak_rss_mb,
        "targets": TARGETS,
        "meets_targets": {
            "readings_per_s": best >= TARGETS["readings_per_s"],
            "peak_rss_mb": peak_rss_mb < TARGETS["peak_rss_mb"],
        },
        "rows": [asdict(r) for r in rows],
    }
    print(
        f"sign alone: {sign_us:.1f} us/reading ({1e6 / sign_us:,.0f}/s); durable SQLite commit "
        f"{commit_ms:.2f} ms; peak RSS {peak_rss_mb:.1f} MB"
    )
    print(
        f"{'burst':>6} {'batch':>6} {'readings/s':>11} {'us/reading':>11} {'cpu us':>8} "
        f"{'cpu-bound/s':>12} {'x sign':>7}"
    )
    for r in rows:
        print(
            f"{r.burst:>6} {r.batch:>6} {r.readings_per_s:>11,.0f} {r.us_per_reading:>11.1f} "
            f"{r.cpu_per_reading_us:>8.1f} {r.cpu_bound_readings_per_s:>12,.0f} "
            f"{r.overhead_vs_sign:>7.2f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
