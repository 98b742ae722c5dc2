"""What the transparency log costs the verifier, and how fast proofs come out of its tiles.

    python -m benchmarks.bench_log [--quick] [--readings N] [--repeat N]

1. End to end (the real service, 2 worker processes, a private mosquitto, batches of 64
   readings from 4 gateways, as bench_verifier): readings/s **without** the log (a store
   that appends no log entries, no sequencer) and **with** it (each accepted batch
   appended to the log in its transaction, a sequencer in every worker integrating tiles
   and signing a checkpoint every second or 1024 entries). The cases alternate in one
   run and the best of each counts; the issue's target is a cost of at most 5 %.
2. The store path alone, in process (no MQTT): CPU seconds to verify and store every
   batch with and without the log, alternating; CPU time is far less disturbed than
   wall time by other processes on a shared machine.
3. Inclusion proofs from tiles: a log of 2^17 entries (quick: 2^14) in a real store,
   proofs for random entries read through the stored tiles, per second; and the same
   through the HTTP handler's tile responses (no socket), as a tiles client sees them.

Results: ``benchmarks/results/bench_log.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.harness import make_gateways, mosquitto_bus, run_case, seal_all
from edgeseal import native
from edgeseal.agent.seal import raw_public_key
from edgeseal.plumbing.keyfile import save_private_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.tlog.note import NoteSigner
from edgeseal.tlog.tiles import TileId, inclusion_proof_from_tiles, tile_path
from edgeseal.verifier.http_types import HttpRequest
from edgeseal.verifier.log_config import LogConfig
from edgeseal.verifier.log_http import make_log_handler, read_only
from edgeseal.verifier.log_sequencer import LogSequencer
from edgeseal.verifier.log_store import tile_reader
from edgeseal.verifier.store import VerifierStore

log = logging.getLogger("bench_log")

RESULTS = Path(__file__).resolve().parent / "results" / "bench_log.json"
BATCH_SIZE = 64
GATEWAYS = 4
WORKERS = 2
TARGET_COST = 0.05
ORIGIN = "bench.example/edgeseal/log"


def end_to_end(workdir: Path, readings: int, repeat: int) -> dict[str, Any]:
    key_path = workdir / "log.key"
    save_private_key(Ed25519PrivateKey.generate(), key_path, what="log key")
    log_config = LogConfig(
        enabled=True,
        origin=ORIGIN,
        key_path=key_path,
        checkpoint_interval_s=1.0,
        checkpoint_entries=1024,
    )
    per_gateway = readings // GATEWAYS
    gateways = make_gateways(GATEWAYS, per_gateway)
    messages = seal_all(gateways, BATCH_SIZE, per_gateway)
    total = per_gateway * GATEWAYS
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with MosquittoBroker(workdir=workdir) as broker:
        for attempt in range(repeat):
            # Alternate the order, so a drift in the machine's load favours neither.
            order = ("without", "with") if attempt % 2 == 0 else ("with", "without")
            for case in order:
                row = run_case(
                    mosquitto_bus(broker),
                    workdir,
                    gateways,
                    messages,
                    total=total,
                    workers=WORKERS,
                    verifier="native",
                    synchronous="normal",
                    case_id=f"log-{case}-r{attempt}",
                    timeout_s=600,
                    log=log_config if case == "with" else None,
                    log_entries=case == "with",
                )
                runs[case].append(row)
                log.info("%-8s log, run %d: %8d readings/s", case, attempt, row["readings_per_s"])
    best = {case: max(r["readings_per_s"] for r in rows) for case, rows in runs.items()}
    cost = 1 - best["with"] / best["without"]
    return {
        "batch_size": BATCH_SIZE,
        "workers": WORKERS,
        "gateways": GATEWAYS,
        "readings": total,
        "readings_per_s_without_log": best["without"],
        "readings_per_s_with_log": best["with"],
        "runs_without_log": [r["readings_per_s"] for r in runs["without"]],
        "runs_with_log": [r["readings_per_s"] for r in runs["with"]],
        "log_cost": round(cost, 4),
        "meets_target": cost <= TARGET_COST,
    }


def in_process(workdir: Path, readings: int, repeat: int) -> dict[str, Any]:
    """The store path alone, in this process: CPU seconds to verify and store every batch
    (groups of 64 messages, as the service does), with the log (entries appended, a
    checkpoint issued every 1024 entries, tiles and signature included) and without.
    CPU time, not wall time: other processes on a shared machine disturb it far less."""
    from edgeseal.verifier.pipeline import BatchProcessor
    from edgeseal.verifier.trust import TrustStore

    per_gateway = readings // GATEWAYS
    gateways = make_gateways(GATEWAYS, per_gateway)
    messages = seal_all(gateways, BATCH_SIZE, per_gateway)
    trust = TrustStore({g.gateway_id: raw_public_key(g.key) for g in gateways})
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    config = LogConfig(enabled=True, origin=ORIGIN, checkpoint_entries=1024)
    cpu: dict[str, list[float]] = {"without": [], "with": []}
    for attempt in range(repeat):
        order = ("without", "with") if attempt % 2 == 0 else ("with", "without")
        for case in order:
            path = workdir / f"inproc-{case}-{attempt}.sqlite"
            with VerifierStore(path, synchronous="normal", log_entries=case == "with") as store:
                processor = BatchProcessor(store, trust, worker="bench")
                sequencer = LogSequencer(store, config, signer, worker="bench")
                started = time.process_time()
                for i in range(0, len(messages), 64):
                    processor.handle_many(messages[i : i + 64])
                    if case == "with" and sequencer.due(0):
                        sequencer.issue()
                if case == "with":
                    sequencer.issue()
                cpu[case].append(time.process_time() - started)
            path.unlink()
    best = {case: min(times) for case, times in cpu.items()}
    append_us, integrate_us = unit_costs(workdir)
    per_batch_us = best["without"] / len(messages) * 1e6
    return {
        # What the log adds per batch, measured alone, over a batch's cost without it:
        # steadier than the difference of two noisy totals.
        "append_us_per_batch": round(append_us, 2),
        "checkpoint_us_per_entry": round(integrate_us, 2),
        "store_path_us_per_batch_without_log": round(per_batch_us, 1),
        "log_cost_from_unit_costs": round((append_us + integrate_us) / per_batch_us, 4),
        "batch_size": BATCH_SIZE,
        "readings": per_gateway * GATEWAYS,
        "cpu_seconds_without_log": round(best["without"], 3),
        "cpu_seconds_with_log": round(best["with"], 3),
        "runs_cpu_seconds_without_log": [round(t, 3) for t in cpu["without"]],
        "runs_cpu_seconds_with_log": [round(t, 3) for t in cpu["with"]],
        "log_cost": round(best["with"] / best["without"] - 1, 4),
        "meets_target": best["with"] / best["without"] - 1 <= TARGET_COST,
    }


def unit_costs(workdir: Path, n: int = 4096, chunk: int = 1024) -> tuple[float, float]:
    """CPU microseconds to append one entry, and per entry to integrate and sign a
    checkpoint of ``chunk`` entries (best of 3)."""
    appends, issues = [], []
    config = LogConfig(enabled=True, origin=ORIGIN, checkpoint_entries=chunk)
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    for attempt in range(3):
        path = workdir / f"units-{attempt}.sqlite"
        entries = [os.urandom(190) for _ in range(n)]
        append_s = issue_s = 0.0
        with VerifierStore(path, synchronous="normal") as store:
            sequencer = LogSequencer(store, config, signer, worker="bench")
            for first in range(0, n, chunk):
                started = time.process_time()
                with store.write():
                    for i in range(first, first + chunk):
                        store.log.append_entry(i + 1, entries[i][:32], entries[i])
                append_s += time.process_time() - started
                started = time.process_time()
                sequencer.issue()
                issue_s += time.process_time() - started
        path.unlink()
        appends.append(append_s / n * 1e6)
        issues.append(issue_s / n * 1e6)
    return min(appends), min(issues)


def proofs(workdir: Path, entries: int, proofs_n: int) -> dict[str, Any]:
    """Proofs per second from a real store's tiles, directly and through HTTP handling."""
    path = workdir / "proofs.sqlite"
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    config = LogConfig(enabled=True, origin=ORIGIN, checkpoint_entries=1 << 20)
    with VerifierStore(path, synchronous="normal") as store:
        with store.write():
            # Entries shaped like real ones (~190 bytes); the log does not parse them,
            # and SQLite does not enforce the batch ids (foreign keys are off).
            for i in range(entries):
                store.log.append_entry(i + 1, i.to_bytes(32, "big"), os.urandom(190))
        sequencer = LogSequencer(store, config, signer, worker="bench")
        started = time.perf_counter()
        while sequencer.issue() is not None:
            pass
        integrate_s = time.perf_counter() - started
        sequencer.step()  # publishes it (no witnesses)
        checkpoint = store.log.latest_checkpoint()
        assert checkpoint is not None and checkpoint.size == entries
        rng = random.Random(1)
        indices = [rng.randrange(entries) for _ in range(proofs_n)]
        read = tile_reader(store.log)
        started = time.perf_counter()
        for index in indices:
            proof = inclusion_proof_from_tiles(index, entries, read)
        direct_s = time.perf_counter() - started
        entry = store.log.entries(indices[-1], indices[-1] + 1)[0]
        assert native.verify_inclusion(entry, indices[-1], entries, proof, checkpoint.root_hash)

    handler = make_log_handler(read_only(path))

    def via_http(t: TileId) -> bytes:
        response = handler(HttpRequest("GET", "/log/" + tile_path(t)))
        assert response is not None and response.status == 200
        return response.body

    http_n = max(1, proofs_n // 4)
    started = time.perf_counter()
    for index in indices[:http_n]:
        inclusion_proof_from_tiles(index, entries, via_http)
    http_s = time.perf_counter() - started
    return {
        "entries": entries,
        "integrate_all_seconds": round(integrate_s, 3),
        "proofs_direct": proofs_n,
        "proofs_per_s_from_store_tiles": round(proofs_n / direct_s),
        "proofs_http": http_n,
        "proofs_per_s_through_http_handler": round(http_n / http_s),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    parser.add_argument("--readings", type=int, help="readings per end-to-end case")
    parser.add_argument("--repeat", type=int, help="runs per case (best counts)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    readings = args.readings or (16384 if args.quick else 65536)
    repeat = args.repeat or (2 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="bench-log-"))
    try:
        e2e = end_to_end(workdir, readings, repeat)
        store_path = in_process(workdir, readings, max(repeat, 3))
        proof = proofs(workdir, 1 << (14 if args.quick else 17), 2000 if args.quick else 10000)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    doc = {
        "benchmark": "log",
        "quick": args.quick,
        "unit": "readings/s, MQTT publish to stored verdict; proofs/s",
        "note": "best of `repeat` alternating runs per case; measured on a shared machine",
        "cores": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "target_log_cost": TARGET_COST,
        "end_to_end": e2e,
        "store_path_cpu": store_path,
        "proofs": proof,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    log.info(
        "log cost at batch %d: end to end %.1f %% (%d -> %d readings/s), store path CPU "
        "%.1f %%; %d proofs/s from tiles",
        BATCH_SIZE,
        100 * e2e["log_cost"],
        e2e["readings_per_s_without_log"],
        e2e["readings_per_s_with_log"],
        100 * store_path["log_cost"],
        proof["proofs_per_s_from_store_tiles"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
