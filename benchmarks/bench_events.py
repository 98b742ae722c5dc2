"""Signed device events in the stream: the agent's and the verifier's readings/s against
the code before events existed, as ratios measured in one run (issue 14).

Events are rare next to readings; here one every ``--every`` readings (default 500: far
more than a device's boots, losses and back-pressure changes in the field). Each
measurement runs in its own process, in this order per round, so that machine load hits
all alike: the *base* tree (``--base-tree``, an export of the commit before events, e.g.
``git archive <commit> | tar -x -C DIR`` plus the built ``*.so`` files) with plain
readings, this tree with plain readings, this tree with events. The best of each counts.

* agent: ``bench_agent``'s pipeline (bursts of 256, batches of 256: signed, stored with
  synchronous=FULL, sealed, PUBACKed by a private mosquitto); events are back-pressure
  on/off queued among the readings.
* verifier: ``BatchProcessor.handle_many`` on a real store (8 messages per write
  transaction, as a worker with a backlog), batches of 256 from 4 gateways of 8 devices;
  events are each device's boot event, then back-pressure events, sealed among the
  readings (so those batches take the split-leaves path and the accounts record them).

    python -m benchmarks.bench_events [--base-tree DIR] [--quick]

Without ``--base-tree`` only this tree runs (plain vs events).

Writes benchmarks/results/bench_events.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
RESULTS = HERE.parent / "results" / "bench_events.json"
BURST, BATCH, GROUP = 256, 256, 8


def agent_child(n: int, every: int) -> float:
    from benchmarks.bench_agent import GATEWAY, NullAcks, config_for, make_readings
    from edgeseal.agent.identity import GatewayKey
    from edgeseal.agent.metrics import AgentMetrics
    from edgeseal.agent.outbox import Outbox
    from edgeseal.agent.pipeline import Pipeline
    from edgeseal.agent.publisher import BatchPublisher
    from edgeseal.agent.rotation import KeyPlan
    from edgeseal.testing.broker import MosquittoBroker

    with tempfile.TemporaryDirectory(prefix="edgeseal-bench-events-") as d:
        broker = MosquittoBroker(workdir=Path(d))
        broker.start()
        try:
            cfg = config_for(Path(d), broker.port, BATCH)
            outbox = Outbox(cfg.outbox.path, gateway_id=GATEWAY, max_bytes=cfg.outbox.max_bytes)
            publisher = BatchPublisher(cfg.mqtt, GATEWAY)
            pipeline = Pipeline(
                config=cfg,
                outbox=outbox,
                keys=KeyPlan(GatewayKey.generate(), None),
                publisher=publisher,
                metrics=AgentMetrics(),
            )
            publisher.start()
            if not publisher.wait_connected(10):
                raise RuntimeError(f"no connection to mosquitto on port {broker.port}")
            readings = make_readings(n)
            acks = NullAcks()
            t0 = time.perf_counter()
            for i in range(0, n, BURST):
                if every and i // every != (i + BURST) // every:
                    from edgeseal.wire.event import Backpressure

                    pipeline.add_event(Backpressure(i // every % 2 == 0, "bench"))
                pipeline.handle_readings(readings[i : i + BURST], acks)
                pipeline.seal_due()
                pipeline.pump_publisher()
            if not pipeline.flush(acks, timeout=60):
                raise RuntimeError("the broker did not acknowledge every batch within 60 s")
            seconds = time.perf_counter() - t0
            publisher.stop(timeout=1)
            outbox.close()
        finally:
            broker.close()
    return n / seconds


def _messages(n: int, every: int) -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    """Batches of BATCH leaves for 4 gateways, interleaved; readings of 8 devices each."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edgeseal.agent.seal import raw_public_key, seal_batch
    from edgeseal.wire.batch import ZERO_HASH
    from edgeseal.wire.record import RecordEncoder
    from edgeseal.wire.topics import Topics

    per_gateway: list[list[tuple[str, bytes]]] = []
    keys: dict[str, bytes] = {}
    base = 1_764_000_000_000_000
    for g in range(4):
        key = Ed25519PrivateKey.generate()
        gw = f"bench-gw-{g}"
        keys[gw] = raw_public_key(key)
        enc = RecordEncoder(gw)
        leaves: list[tuple[bytes, int]] = []
        events = 0
        for i in range(n):
            t = base + 1000 * i
            if every and i % every == 0:
                from edgeseal.wire.event import Backpressure, DeviceBoot, EventRecord

                body = (
                    DeviceBoot(1 + events, 1, 1, "1.0.0") if events < 8 else Backpressure(True, "")
                )
                leaves.append((EventRecord(gw, t, body).encode(), t))
                events += 1
            record = enc.encode(
                device_id=1 + i % 8,
                boot_id=1,
                device_seq=1 + i // 8,
                channel=i % 4,
                unit=3,
                mantissa=20_000 + i % 1000,
                exponent=-3,
                time_kind=1,
                device_time_ms=base // 1000 + i,
                gateway_time_us=t,
            )
            leaves.append((record, t))
        msgs, prev = [], ZERO_HASH
        for seq, start in enumerate(range(0, len(leaves), BATCH), start=1):
            part = leaves[start : start + BATCH]
            sealed = seal_batch(
                private_key=key,
                gateway_id=gw,
                seq=seq,
                prev_hash=prev,
                records=[r for r, _ in part],
                signatures=[key.sign(r) for r, _ in part],
                first_time_us=part[0][1],
                last_time_us=part[-1][1],
            )
            prev = sealed.hash
            msgs.append((Topics().batch(gw), sealed.to_payload()))
        per_gateway.append(msgs)
    return [m for group in zip(*per_gateway) for m in group], keys


def verifier_child(n: int, every: int) -> float:
    from edgeseal.verifier.pipeline import BatchProcessor
    from edgeseal.verifier.store import VerifierStore
    from edgeseal.verifier.trust import TrustStore
    from edgeseal.verifier.verdict import Outcome

    messages, keys = _messages(n, every)
    with tempfile.TemporaryDirectory(prefix="edgeseal-bench-events-") as d:
        store = VerifierStore(Path(d) / "store.sqlite", synchronous="normal")
        processor = BatchProcessor(store, TrustStore(keys), worker="bench")
        t0 = time.perf_counter()
        for i in range(0, len(messages), GROUP):
            for verdicts in processor.handle_many(messages[i : i + GROUP]):
                if verdicts[0].outcome is not Outcome.ACCEPTED:
                    raise RuntimeError(f"not accepted: {verdicts[0].describe()}")
        seconds = time.perf_counter() - t0
        store.close()
    return 4 * n / seconds


def _child(tree: Path, part: str, n: int, every: int) -> float:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{ROOT}")
    out = subprocess.run(
        [sys.executable, str(HERE), "--child", part, "--n", str(n), "--every", str(every)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-tree", type=Path, help="an export of the commit before events")
    parser.add_argument("--quick", action="store_true", help="fewer readings and rounds")
    parser.add_argument("--every", type=int, default=500, help="readings per event")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--parts", default="agent,verifier", help="agent, verifier or both")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["agent", "verifier"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = agent_child if args.child == "agent" else verifier_child
        print(run(args.n, args.every))
        return 0
    sizes = {"agent": 8192 if args.quick else 30_000, "verifier": 4096 if args.quick else 8192}
    sizes = {p: n for p, n in sizes.items() if p in args.parts.split(",")}
    rounds = args.rounds or (2 if args.quick else 4)
    variants = [("plain", ROOT, 0), ("events", ROOT, args.every)]
    if args.base_tree is not None:  # without it (as run.py runs it): events vs plain only
        variants.insert(0, ("base", args.base_tree, 0))
    found: dict[str, dict[str, list[float]]] = {p: {v[0]: [] for v in variants} for p in sizes}
    load_before = os.getloadavg()
    for r in range(rounds):
        for part, n in sizes.items():
            for name, tree, every in variants:
                rate = _child(tree.resolve(), part, n, every)
                found[part][name].append(round(rate))
                print(f"round {r} {part:8} {name:6} {rate:9.0f} readings/s", flush=True)
    doc: dict[str, Any] = {
        "every": args.every,
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "readings_per_s": found,
    }
    for part, runs in found.items():
        best = {name: max(v) for name, v in runs.items()}
        doc[f"{part}_events_vs_plain"] = round(best["events"] / best["plain"], 3)
        if "base" in best:
            doc[f"{part}_events_vs_base"] = round(best["events"] / best["base"], 3)
            doc[f"{part}_plain_vs_base"] = round(best["plain"] / best["base"], 3)
    print(json.dumps({k: v for k, v in doc.items() if k != "readings_per_s"}, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
