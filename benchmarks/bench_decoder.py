"""Serial frame decoder throughput on one core: Python decoder vs the C reference decoder.

The stream is what a busy sensor line carries: READING frames (18-byte payload,
39 bytes on the wire) with a HEARTBEAT every 50 readings. Two variants: a clean
line, and a noisy one where 1% of bytes have a bit flipped (about a third of the
frames are then rejected, which exercises the resync path). Implementations:

- ``python``: ``firmware_bridge.frame.FrameDecoder.feed`` over 4 KiB chunks (what
  the gateway runs), yielding ``Frame`` objects;
- ``c``: ``firmware_bridge.core.Decoder.feed`` (``fb_decoder_feed`` through cffi),
  also building ``Frame`` objects, so the two are compared like for like;
- ``c core``: ``fb_decoder_feed`` called in a loop without converting frames to
  Python objects: the C decoder's own speed plus one cffi call per frame.

Before any figure is reported, every implementation must find the same number of
frames (and the Python and C decoders the same frames). The process is pinned to
one CPU (``--cpu``). Prints a table and writes ``benchmarks/results/bench_decoder.json``.

    python -m benchmarks.bench_decoder            # 1k, 10k, 100k frames
    python -m benchmarks.bench_decoder --quick    # 1k and 10k frames, fewer rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeseal.firmware_bridge import core
from edgeseal.firmware_bridge._fbcore import ffi, lib
from edgeseal.firmware_bridge.frame import FrameDecoder, encode_frame
from edgeseal.firmware_bridge.messages import Reading
from edgeseal.firmware_bridge.protocol import Heartbeat, to_frame

RESULTS = Path(__file__).resolve().parent / "results" / "bench_decoder.json"
FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
CHUNK = 4096


@dataclass(frozen=True)
class Row:
    impl: str
    stream: str
    frames: int
    bytes: int
    seconds: float
    frames_per_s: float
    bytes_per_s: float
    frames_out: int


def make_stream(n: int, noisy: bool, seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    for seq in range(1, n + 1):
        if seq % 50 == 0:
            msg: object = Heartbeat(7, 0xB007, seq, seq - 10, seq * 10)
        else:
            msg = Reading(
                7, 0xB007, seq, seq % 4, 3, rng.randrange(-(10**6), 10**6), -2, 0, seq * 10
            )
        parts.append(encode_frame(to_frame(msg)))  # type: ignore[arg-type]
    stream = bytearray(b"".join(parts))
    if noisy:
        for i in range(len(stream)):
            if rng.random() < 0.01:
                stream[i] ^= 1 << rng.randrange(8)
    return bytes(stream)


def run_python(stream: bytes) -> int:
    dec = FrameDecoder()
    count = 0
    for i in range(0, len(stream), CHUNK):
        for _ in dec.feed(stream[i : i + CHUNK]):
            count += 1
    return count


def run_c(stream: bytes) -> int:
    dec = core.Decoder()
    return sum(len(dec.feed(stream[i : i + CHUNK])) for i in range(0, len(stream), CHUNK))


def run_c_core(stream: bytes) -> int:
    d = ffi.new("fb_decoder *")
    lib.fb_decoder_init(d)
    f = ffi.new("fb_frame *")
    used = ffi.new("size_t *")
    buf = ffi.from_buffer(stream)
    feed = lib.fb_decoder_feed
    offset, n, count = 0, len(stream), 0
    while offset < n:
        count += feed(d, buf + offset, n - offset, used, f)
        offset += used[0]
    return count


IMPLS: dict[str, Callable[[bytes], int]] = {"python": run_python, "c": run_c, "c core": run_c_core}


def measure(
    fn: Callable[[bytes], int], stream: bytes, rounds: int, min_s: float
) -> tuple[float, int]:
    samples = []
    out = 0
    for _ in range(rounds):
        reps, start = 0, time.perf_counter()
        while True:
            out = fn(stream)
            reps += 1
            if time.perf_counter() - start >= min_s:
                break
        samples.append((time.perf_counter() - start) / reps)
    return sorted(samples)[len(samples) // 2], out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller streams, fewer rounds")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument(
        "--output", "--out", dest="out", type=Path, default=RESULTS, help="JSON output path"
    )
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    rounds, min_s = (3, 0.1) if args.quick else (5, 0.3)
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    for noisy in (False, True):
        label = "noisy 1%" if noisy else "clean"
        for n in sizes:
            stream = make_stream(n, noisy, seed=n)
            py_frames = list(FrameDecoder().feed(stream))
            c_frames = core.Decoder().feed(stream)
            if py_frames != c_frames:
                print(f"decoders disagree on the {label} stream of {n} frames", file=sys.stderr)
                return 1
            if not noisy and len(py_frames) != n:
                print(f"clean stream of {n} frames decoded to {len(py_frames)}", file=sys.stderr)
                return 1
            for impl, fn in IMPLS.items():
                seconds, out = measure(fn, stream, rounds, min_s)
                if out != len(py_frames):
                    print(f"{impl} found {out} frames, expected {len(py_frames)}", file=sys.stderr)
                    return 1
                rows.append(
                    Row(
                        impl,
                        label,
                        n,
                        len(stream),
                        seconds,
                        n / seconds,
                        len(stream) / seconds,
                        out,
                    )
                )
    by = {(r.impl, r.stream, r.frames): r for r in rows}
    top = sizes[-1]
    ratios = {
        f"c_vs_python_clean_{top}": by[("c", "clean", top)].frames_per_s
        / by[("python", "clean", top)].frames_per_s,
        f"c_core_vs_python_clean_{top}": by[("c core", "clean", top)].frames_per_s
        / by[("python", "clean", top)].frames_per_s,
        f"c_vs_python_noisy_{top}": by[("c", "noisy 1%", top)].frames_per_s
        / by[("python", "noisy 1%", top)].frames_per_s,
    }
    result = {
        "benchmark": "decoder",
        "settings": {
            "sizes": list(sizes),
            "rounds": rounds,
            "min_seconds_per_round": min_s,
            "chunk": CHUNK,
            "cpu": args.cpu,
            "quick": args.quick,
        },
        "machine": {
            "processor": platform.machine(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        },
        "ratios": ratios,
        "rows": [asdict(r) for r in rows],
    }
    print(f"{'impl':8} {'stream':9} {'frames':>7} {'frames/s':>12} {'MB/s':>8}")
    for r in rows:
        print(
            f"{r.impl:8} {r.stream:9} {r.frames:7d} {r.frames_per_s:12.0f} {r.bytes_per_s / 1e6:8.2f}"
        )
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
