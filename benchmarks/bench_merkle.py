"""RFC 9162 Merkle root throughput: native (C, run-time SHA-256 dispatch) vs hashlib vs pymerkle.

Trees of 1k, 64k and 1M leaves of 64 bytes. Every implementation computes the root
of the same leaves in one run (and the roots are checked to be equal before any
figure is reported), so the ratios compare like with like:

- ``native packed``: ``native.merkle_root_packed`` over one buffer + array('Q') offsets;
- ``native list``: ``native.merkle_root`` over a list of bytes (includes packing them);
- ``native portable``: the packed form in a child process with EDGESEAL_SHA256=portable;
- ``hashlib loop``: RFC 9162 level by level in Python with hashlib (what a plain
  Python implementation does);
- ``pymerkle``: pymerkle 7 ``InmemoryTree`` (RFC 9162 hashing), append all + root.

The process is pinned to one CPU (``--cpu``) so "one core" is what is measured.
Prints a table and writes ``benchmarks/results/bench_merkle.json``.

    python -m benchmarks.bench_merkle                  # full run (pymerkle at 1M: ~15 s)
    python -m benchmarks.bench_merkle --quick          # 1k and 64k only, fewer rounds
    python -m benchmarks.bench_merkle --pymerkle-max 65536 --out /tmp/m.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeseal import native

RESULTS = Path(__file__).resolve().parent / "results" / "bench_merkle.json"
LEAF_SIZE = 64
FULL_SIZES = (1024, 65536, 1 << 20)
QUICK_SIZES = (1024, 65536)
TARGETS = {"native_packed_vs_hashlib_loop_1M": 10.0, "native_packed_vs_pymerkle_1M": 80.0}

# Child process for the portable variant: the dispatcher reads EDGESEAL_SHA256 once
# per process, so forcing it means a fresh interpreter. Prints one JSON object
# (median of rounds, each repeating the call for at least min_seconds).
_PORTABLE_CHILD = """
import json, sys, time, random
from array import array
from edgeseal import native
sizes, rounds, seed, min_s = json.loads(sys.argv[1])
assert native.dispatch_info().active == "portable"
out = {}
for n in sizes:
    buf = random.Random(seed + n).randbytes(64 * n)
    offsets = array("Q", range(0, 64 * n + 1, 64))
    samples = []
    for _ in range(rounds):
        reps, start = 0, time.perf_counter()
        while True:
            root = native.merkle_root_packed(buf, offsets)
            reps += 1
            if time.perf_counter() - start >= min_s:
                break
        samples.append((time.perf_counter() - start) / reps)
    out[n] = [root.hex(), sorted(samples)[len(samples) // 2]]
print(json.dumps(out))
"""


@dataclass(frozen=True)
class Row:
    implementation: str
    leaves: int
    seconds: float
    leaves_per_s: float
    speedup_vs_hashlib_loop: float | None


def hashlib_loop_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH, level by level, one hashlib call per leaf and node."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    sha = hashlib.sha256
    level = [sha(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # RFC 9162's split carries the odd node up unchanged
        level = nxt
    return level[0]


def pymerkle_root(leaves: Sequence[bytes]) -> bytes:
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")  # security on: 0x00 / 0x01 prefixes, RFC 9162
    tree.append_entries(leaves)
    return bytes(tree.get_root())


def _median_time(fn: Callable[[], bytes], rounds: int, min_seconds: float) -> tuple[float, bytes]:
    """Median over rounds of the time per call; a round repeats fn for >= min_seconds."""
    samples, root = [], b""
    for _ in range(rounds):
        reps, start = 0, time.perf_counter()
        while True:
            root = fn()
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / reps)
    return statistics.median(samples), root


def _pin(cpu: int | None) -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return chosen


def _portable(
    sizes: Sequence[int], rounds: int, seed: int, min_s: float
) -> dict[int, tuple[str, float]]:
    env = dict(os.environ, EDGESEAL_SHA256="portable")
    done = subprocess.run(
        [sys.executable, "-c", _PORTABLE_CHILD, json.dumps([list(sizes), rounds, seed, min_s])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {int(k): (v[0], float(v[1])) for k, v in json.loads(done.stdout).items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 64k leaves, fewer rounds")
    parser.add_argument(
        "--output",
        "--out",
        dest="out",
        type=Path,
        default=RESULTS,
        help=f"JSON output (default {RESULTS})",
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per cell (median)")
    parser.add_argument(
        "--pymerkle-max",
        type=int,
        default=None,
        help="largest tree given to pymerkle (default: every size; pymerkle at 1M takes ~15 s)",
    )
    parser.add_argument(
        "--cpu", type=int, default=None, help="CPU to pin to (default: first allowed)"
    )
    parser.add_argument(
        "--no-portable", action="store_true", help="skip the portable-variant child"
    )
    parser.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args(argv)

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    rounds = args.rounds or (3 if args.quick else 5)
    min_s = 0.05 if args.quick else 0.2  # each round repeats small trees for at least this long
    pymerkle_max = args.pymerkle_max if args.pymerkle_max is not None else max(sizes)
    cpu = _pin(args.cpu)
    info = native.dispatch_info()
    load_before = os.getloadavg()

    rows: list[Row] = []
    skipped: list[str] = []
    portable = {} if args.no_portable else _portable(sizes, max(1, rounds // 2), args.seed, min_s)
    for n in sizes:
        buf = random.Random(args.seed + n).randbytes(LEAF_SIZE * n)
        offsets = array("Q", range(0, LEAF_SIZE * n + 1, LEAF_SIZE))
        leaves = [buf[i : i + LEAF_SIZE] for i in range(0, len(buf), LEAF_SIZE)]

        cells: dict[str, tuple[float, bytes]] = {}
        cells["native packed"] = _median_time(
            lambda buf=buf, offsets=offsets: native.merkle_root_packed(buf, offsets), rounds, min_s
        )
        cells["native list"] = _median_time(
            lambda leaves=leaves: native.merkle_root(leaves), rounds, min_s
        )
        if n in portable:
            root_hex, secs = portable[n]
            cells["native portable"] = (secs, bytes.fromhex(root_hex))
        cells["hashlib loop"] = _median_time(
            lambda leaves=leaves: hashlib_loop_root(leaves), max(1, rounds // 2), min_s
        )
        if n <= pymerkle_max:
            cells["pymerkle"] = _median_time(lambda leaves=leaves: pymerkle_root(leaves), 1, min_s)
        else:
            skipped.append(f"pymerkle not run at {n} leaves (--pymerkle-max {pymerkle_max})")

        roots = {name: root for name, (_, root) in cells.items()}
        if len(set(roots.values())) != 1:
            print(
                f"ROOT MISMATCH at {n} leaves: "
                + ", ".join(f"{k}={v.hex()[:16]}" for k, v in roots.items())
            )
            return 1
        base = cells["hashlib loop"][0]
        for name, (secs, _) in cells.items():
            rows.append(Row(name, n, secs, n / secs, base / secs))

    def ratio(a: str, b: str, n: int) -> float | None:
        ta = next((r.seconds for r in rows if r.implementation == a and r.leaves == n), None)
        tb = next((r.seconds for r in rows if r.implementation == b and r.leaves == n), None)
        return None if ta is None or tb is None else tb / ta

    ratios: dict[str, float] = {}
    for n in sizes:
        label = {1024: "1k", 65536: "64k", 1 << 20: "1M"}.get(n, str(n))
        for impl, key in (("native packed", "native_packed"), ("native list", "native_list")):
            for other, okey in (("hashlib loop", "hashlib_loop"), ("pymerkle", "pymerkle")):
                value = ratio(impl, other, n)
                if value is not None:
                    ratios[f"{key}_vs_{okey}_{label}"] = round(value, 2)
        value = ratio("native packed", "native portable", n)
        if value is not None:
            ratios[f"native_packed_vs_portable_{label}"] = round(value, 2)
    targets_met = {k: (ratios[k] >= v if k in ratios else None) for k, v in TARGETS.items()}
    load_after = os.getloadavg()

    print(
        f"RFC 9162 Merkle root of {LEAF_SIZE}-byte leaves, one CPU (pinned to {cpu}), "
        f"SHA-256 variant {info.active}, median of {rounds} rounds of >= {min_s} s "
        f"(hashlib and portable {max(1, rounds // 2)}, pymerkle 1)"
    )
    print(
        f"{'implementation':<18} {'leaves':>9} {'seconds':>10} {'leaves/s':>14} {'vs hashlib':>11}"
    )
    for r in rows:
        print(
            f"{r.implementation:<18} {r.leaves:>9} {r.seconds:>10.4f} {r.leaves_per_s:>14,.0f} "
            f"{r.speedup_vs_hashlib_loop:>10.1f}x"
        )
    for note in skipped:
        print(f"note: {note}")
    for key, target in TARGETS.items():
        got = ratios.get(key)
        print(
            f"target {key} >= {target}: "
            + (
                "not measured"
                if got is None
                else f"{got:.1f} ({'met' if got >= target else 'NOT met'})"
            )
        )
    busy = max(load_before[0], load_after[0]) > 0.5
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}"
        + (" (machine busy: figures measured under load)" if busy else "")
    )

    result = {
        "benchmark": "merkle",
        "settings": {
            "leaf_size": LEAF_SIZE,
            "sizes": list(sizes),
            "rounds": rounds,
            "min_seconds_per_round": min_s,
            "pymerkle_max": pymerkle_max,
            "cpu": cpu,
            "quick": args.quick,
        },
        "machine": {
            "sha256_variant": info.active,
            "cpu_features": list(info.cpu_features),
            "processor": platform.processor() or platform.machine(),
            "load_before": load_before[0],
            "load_after": load_after[0],
        },
        "rows": [asdict(r) for r in rows],
        "ratios": ratios,
        "targets": TARGETS,
        "targets_met": targets_met,
        "notes": skipped + (["measured under load"] if busy else []),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
