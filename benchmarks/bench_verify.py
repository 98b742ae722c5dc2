"""Ed25519 verification throughput: native single and batch vs PyNaCl and cryptography.

Per-signature time for batch sizes 1..4096, with one key for every item ("same
key", the verifier's case: one gateway signs a whole batch) and one key per item
("distinct keys"), on 1 and 2 threads, next to libsodium (PyNaCl) and OpenSSL
(cryptography) verifying the same signatures one by one, all in one run so the
ratios compare like with like. Prints a table and writes
benchmarks/results/bench_verify.json.

    python3 benchmarks/bench_verify.py            # full run
    python3 benchmarks/bench_verify.py --quick    # smaller sizes, fewer rounds
    python3 benchmarks/bench_verify.py --portable # force the portable C (no AVX-512 IFMA)

The batch code uses AVX-512 IFMA when the CPU has it; the JSON records which
implementation ran ("implementation").

Adversarial batches: 1024 items (256 with --quick) of which none, one, one per pair
or all fail, with one key and with distinct keys. Bisection locates the invalid
items; an attacker choosing where they sit must not make a batch cost much more
than verifying each item alone. Each row gives the time against the all-valid
batch and against native.verify on every item, both measured in this run
("adversarial" in the JSON; the worst ratio against native.verify is the
"adversarial_worst_vs_single_max" target, lower is better).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.signing import VerifyKey

from edgeseal import native
from edgeseal.native import ed25519

RESULTS = Path(__file__).resolve().parent / "results" / "bench_verify.json"
MESSAGE_SIZE = 100  # about one sealed reading record
TARGETS = {
    "batch1024_same_key_vs_libsodium": 11.0,
    "batch1024_distinct_keys_vs_libsodium": 6.0,
    "single_vs_libsodium": 1.2,
    "two_threads_vs_one": 1.9,
    "adversarial_worst_vs_single_max": 1.2,
}
# Which items of an adversarial batch are invalid (their message is altered).
BAD_PATTERNS: dict[str, Callable[[int, int], bool]] = {
    "none": lambda i, n: False,
    "one": lambda i, n: i == n * 2 // 3,
    "one-per-pair": lambda i, n: i % 2 == 1,
    "all": lambda i, n: True,
}


@dataclass(frozen=True)
class Row:
    implementation: str
    keys: str  # "same" or "distinct"
    batch: int
    threads: int
    us_per_sig: float
    speedup_vs_libsodium: float
    sigs_per_s: float = 0.0  # filled from us_per_sig (the report charts *_per_s columns)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigs_per_s", 1e6 / self.us_per_sig)


@dataclass(frozen=True)
class Corpus:
    keys: list[bytes]
    messages: list[bytes]
    signatures: list[bytes]


def _corpus(n: int, distinct: bool) -> Corpus:
    signers = [Ed25519PrivateKey.generate() for _ in range(n if distinct else 1)]
    pubs = [s.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for s in signers]
    msgs = [os.urandom(MESSAGE_SIZE) for _ in range(n)]
    sigs = [signers[i % len(signers)].sign(m) for i, m in enumerate(msgs)]
    return Corpus([pubs[i % len(pubs)] for i in range(n)], msgs, sigs)


def _time_per_item(fn: Callable[[], object], items: int, min_seconds: float, rounds: int) -> float:
    """Best (minimum) over rounds of the per-item time; each round repeats fn for >=
    min_seconds. The minimum is the least disturbed by other processes (as timeit
    recommends); the baselines get the same treatment, so ratios stay fair."""
    samples = []
    for _ in range(rounds):
        reps, start = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        samples.append(elapsed / (reps * items))
    return min(samples)


def _packed_call(c: Corpus, same: bool, threads: int) -> Callable[[], list[bool]]:
    offsets = array("Q", [0])
    for m in c.messages:
        offsets.append(offsets[-1] + len(m))
    keys = c.keys[0] if same else b"".join(c.keys)
    sigs, msgs = b"".join(c.signatures), b"".join(c.messages)

    def call() -> list[bool]:
        out = native.verify_batch_packed(keys, sigs, msgs, offsets, threads=threads)
        if not all(out):
            raise RuntimeError("benchmark signatures failed to verify")
        return out

    return call


def _tampered(c: Corpus, bad: Callable[[int, int], bool]) -> tuple[list[bytes], list[bool]]:
    n = len(c.messages)
    msgs = [bytes([m[0] ^ 1]) + m[1:] if bad(i, n) else m for i, m in enumerate(c.messages)]
    return msgs, [not bad(i, n) for i in range(n)]


def _attack_calls(
    packed_keys: bytes, sigs: bytes, keys: list[bytes], signatures: list[bytes], msgs: list[bytes]
) -> tuple[Callable[[], list[bool]], Callable[[], list[bool]]]:
    """The batch call and the one-by-one calls over the same (tampered) items."""
    offsets = array("Q", [0])
    for m in msgs:
        offsets.append(offsets[-1] + len(m))
    blob = b"".join(msgs)

    def batch() -> list[bool]:
        return native.verify_batch_packed(packed_keys, sigs, blob, offsets)

    def one_by_one() -> list[bool]:
        return [native.verify(k, m, s) for k, m, s in zip(keys, msgs, signatures)]

    return batch, one_by_one


def adversarial(size: int, min_seconds: float, rounds: int) -> list[dict[str, object]]:
    """Batches with invalid items placed by an attacker, against the all-valid batch
    and against native.verify on every item, all timed here."""
    out: list[dict[str, object]] = []
    for keys in ("same", "distinct"):
        c = _corpus(size, distinct=keys == "distinct")
        packed_keys = c.keys[0] if keys == "same" else b"".join(c.keys)
        sigs = b"".join(c.signatures)
        times: dict[str, float] = {}
        singles: dict[str, float] = {}
        for name, bad in BAD_PATTERNS.items():
            msgs, expected = _tampered(c, bad)
            batch, one_by_one = _attack_calls(packed_keys, sigs, c.keys, c.signatures, msgs)
            if batch() != expected or one_by_one() != expected:
                raise RuntimeError(f"wrong verdicts for the {name!r} adversarial batch")
            times[name] = _time_per_item(batch, size, min_seconds, rounds)
            singles[name] = _time_per_item(one_by_one, size, min_seconds, rounds)
        for name in BAD_PATTERNS:
            out.append(
                {
                    "keys": keys,
                    "pattern": name,
                    "batch": size,
                    "us_per_sig": times[name] * 1e6,
                    "vs_valid_batch": times[name] / times["none"],
                    "vs_single": times[name] / singles[name],
                }
            )
    return out


def run(
    sizes: list[int],
    thread_counts: list[int],
    min_seconds: float,
    rounds: int,
    adversarial_size: int = 1024,
) -> dict[str, object]:
    baseline = _corpus(256, distinct=True)
    triples = list(zip(baseline.keys, baseline.messages, baseline.signatures))
    nacl_keys = [VerifyKey(k) for k in baseline.keys]
    ossl_keys = [Ed25519PublicKey.from_public_bytes(k) for k in baseline.keys]

    def nacl_all() -> None:
        for vk, (_, m, s) in zip(nacl_keys, triples):
            vk.verify(m, s)

    def ossl_all() -> None:
        for pk, (_, m, s) in zip(ossl_keys, triples):
            pk.verify(s, m)

    def native_all() -> None:
        for k, m, s in triples:
            if not native.verify(k, m, s):
                raise RuntimeError("benchmark signature failed to verify")

    prepared = [native.PreparedKey.of(k) for k in baseline.keys]

    def prepared_all() -> None:
        for pk, (_, m, s) in zip(prepared, triples):
            if not pk.verify(m, s):
                raise RuntimeError("benchmark signature failed to verify")

    t_nacl = _time_per_item(nacl_all, len(triples), min_seconds, rounds)
    t_ossl = _time_per_item(ossl_all, len(triples), min_seconds, rounds)
    t_single = _time_per_item(native_all, len(triples), min_seconds, rounds)
    t_prepared = _time_per_item(prepared_all, len(triples), min_seconds, rounds)
    # One-by-one verification costs the same per signature at every batch size;
    # a row per size draws the baselines as lines next to the batch curves.
    one_by_one = [
        ("PyNaCl (libsodium) one by one", t_nacl),
        ("cryptography (OpenSSL) one by one", t_ossl),
        ("native.verify one by one", t_single),
        ("native.PreparedKey.verify one by one", t_prepared),
    ]
    rows = [Row(name, "any", n, 1, t * 1e6, t_nacl / t) for name, t in one_by_one for n in sizes]
    for keys in ("same", "distinct"):
        corpora = {n: _corpus(n, distinct=keys == "distinct") for n in sizes}
        for threads in thread_counts:
            for n in sizes:
                t = _time_per_item(
                    _packed_call(corpora[n], keys == "same", threads), n, min_seconds, rounds
                )
                rows.append(
                    Row("native.verify_batch_packed", keys, n, threads, t * 1e6, t_nacl / t)
                )

    def find(keys: str, n: int, threads: int) -> Row | None:
        for r in rows:
            if r.implementation.startswith("native.verify_batch") and (
                r.keys,
                r.batch,
                r.threads,
            ) == (keys, n, threads):
                return r
        return None

    achieved: dict[str, float | None] = {"single_vs_libsodium": t_nacl / t_single}
    same1024, dist1024 = find("same", 1024, 1), find("distinct", 1024, 1)
    achieved["batch1024_same_key_vs_libsodium"] = (
        same1024.speedup_vs_libsodium if same1024 else None
    )
    achieved["batch1024_distinct_keys_vs_libsodium"] = (
        dist1024.speedup_vs_libsodium if dist1024 else None
    )
    biggest = max(sizes)
    one, two = find("same", biggest, 1), find("same", biggest, 2)
    achieved["two_threads_vs_one"] = one.us_per_sig / two.us_per_sig if one and two else None
    attacks = adversarial(adversarial_size, min_seconds, rounds)
    achieved["adversarial_worst_vs_single_max"] = max(float(str(a["vs_single"])) for a in attacks)
    return {
        "implementation": ed25519.implementation(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "message_size": MESSAGE_SIZE,
        "rows": [asdict(r) for r in rows],
        "adversarial": attacks,
        "targets": TARGETS,
        "achieved": achieved,
    }


def print_table(result: dict[str, object]) -> None:
    print(f"batch implementation: {result['implementation']}\n")
    print(
        f"{'implementation':38} {'keys':9} {'batch':>6} {'thr':>3} {'us/sig':>9} {'x libsodium':>12}"
    )
    first_batch = min(r["batch"] for r in result["rows"])  # type: ignore[attr-defined]
    for r in result["rows"]:  # type: ignore[attr-defined]
        if r["implementation"].endswith("one by one") and r["batch"] != first_batch:
            continue  # same per-signature time at every size
        print(
            f"{r['implementation']:38} {r['keys']:9} {r['batch']:>6} {r['threads']:>3} "
            f"{r['us_per_sig']:>9.2f} {r['speedup_vs_libsodium']:>12.2f}"
        )
    print(
        f"\n{'adversarial batch':38} {'keys':9} {'batch':>6} {'us/sig':>9} "
        f"{'x valid':>8} {'x single':>9}"
    )
    for a in result["adversarial"]:  # type: ignore[attr-defined]
        print(
            f"{'invalid: ' + a['pattern']:38} {a['keys']:9} {a['batch']:>6} "
            f"{a['us_per_sig']:>9.2f} {a['vs_valid_batch']:>8.2f} {a['vs_single']:>9.2f}"
        )
    print("\ntarget                                  wanted   achieved")
    for name, wanted in TARGETS.items():
        got = result["achieved"][name]  # type: ignore[index]
        shown = "n/a" if got is None else f"{got:.2f}"
        print(f"{name:38} {wanted:>7.2f}x {shown:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="sizes up to 1024, fewer and shorter rounds"
    )
    parser.add_argument(
        "--portable", action="store_true", help="force the portable C code (no AVX-512 IFMA)"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help=f"JSON output (default {RESULTS})"
    )
    args = parser.parse_args()
    if args.portable and ed25519.implementation() != "portable":
        # The C core reads EDGESEAL_ED25519 once, when it is loaded: start again
        # with it set.
        env = dict(os.environ, EDGESEAL_ED25519="portable")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    if args.output is None:
        args.output = RESULTS.with_name("bench_verify_portable.json") if args.portable else RESULTS
    load_before = os.getloadavg()[0]
    if args.quick:
        result = run(
            [1, 16, 64, 256, 1024], [1, 2], min_seconds=0.05, rounds=3, adversarial_size=256
        )
    else:
        result = run([1, 16, 64, 256, 1024, 4096], [1, 2], min_seconds=0.3, rounds=5)
    result["quick"] = args.quick
    result["load_average_before"] = load_before
    result["load_average_after"] = os.getloadavg()[0]
    print_table(result)
    print(f"load average {load_before:.2f} before, {result['load_average_after']:.2f} after")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
