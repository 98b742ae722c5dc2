"""Run every benchmark, one subprocess each, and write the combined report.

    python -m benchmarks [--quick] [--only NAME]... [--timeout SECONDS]

Each ``benchmarks/bench_<name>.py`` runs as ``python -m benchmarks.bench_<name>``
(with ``--quick`` passed through) from the repository root, one after the other so
they do not disturb each other's timings, and is expected to write
``benchmarks/results/bench_<name>.json``. The outcome of every expected benchmark
is recorded, including one that is missing, fails, times out or writes no fresh
result: the report shows it rather than leaving it out.

Output: ``results/latest.json`` (machine + every outcome + each benchmark's own
JSON), ``results/latest.md`` and PNG charts (``report.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# The benchmarks the project promises (docs/benchmarks.md); others found on disk run too.
EXPECTED = ("merkle", "verify", "decoder", "agent", "verifier")
DEFAULT_TIMEOUT_S = 1800.0
QUICK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class BenchOutcome:
    """What happened when one benchmark ran."""

    name: str
    status: str  # "ok", "failed", "timeout", "missing", "no-result"
    seconds: float
    returncode: int | None
    command: list[str]
    message: str  # why it is not "ok" (with the tail of stderr), or ""
    result: dict[str, Any] | None  # the benchmark's own JSON, when this run wrote one


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Expected benchmarks first (in data-path order), then any other bench_*.py."""
    found = sorted(p.stem.removeprefix("bench_") for p in bench_dir.glob("bench_*.py"))
    return list(EXPECTED) + [name for name in found if name not in EXPECTED]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_one(
    name: str,
    *,
    quick: bool,
    timeout: float,
    bench_dir: Path = BENCH_DIR,
    results_dir: Path = RESULTS_DIR,
    python: str = sys.executable,
) -> BenchOutcome:
    script = bench_dir / f"bench_{name}.py"
    package = bench_dir.name
    output = results_dir / f"bench_{name}.json"
    # Every benchmark takes --output: with --results elsewhere, a run must neither
    # write over the committed results nor be judged by a stale file.
    command = [
        python,
        "-m",
        f"{package}.bench_{name}",
        *(["--quick"] if quick else []),
        "--output",
        str(output),
    ]
    if not script.exists():
        return BenchOutcome(
            name,
            "missing",
            0.0,
            None,
            command,
            f"{script.relative_to(bench_dir.parent)} does not exist",
            None,
        )
    started_wall = time.time()
    started = time.monotonic()
    log.info("running %s", " ".join(command[1:]))
    try:
        proc = subprocess.run(
            command,
            cwd=bench_dir.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return BenchOutcome(
            name,
            "timeout",
            time.monotonic() - started,
            None,
            command,
            f"still running after {timeout:.0f} s; killed\n{_tail(stderr)}",
            None,
        )
    seconds = time.monotonic() - started
    result, problem = _fresh_result(output, started_wall)
    if proc.returncode != 0:
        # Keep what it did write this run (a benchmark may exit 1 for a missed
        # target after writing its figures): the report shows both.
        return BenchOutcome(
            name,
            "failed",
            seconds,
            proc.returncode,
            command,
            f"exit status {proc.returncode}\n{_tail(proc.stderr or proc.stdout)}",
            result,
        )
    if result is None:
        return BenchOutcome(
            name,
            "no-result",
            seconds,
            proc.returncode,
            command,
            f"exited 0 but {problem}\n{_tail(proc.stdout)}",
            None,
        )
    return BenchOutcome(name, "ok", seconds, proc.returncode, command, "", result)


def _fresh_result(output: Path, started_wall: float) -> tuple[dict[str, Any] | None, str]:
    """The benchmark's JSON if this run wrote it, else (None, what is wrong)."""
    # A JSON file older than this run is a previous run's result: never report it as this one.
    if not output.exists() or output.stat().st_mtime < started_wall - 1.0:
        return None, f"wrote no fresh {output.name}"
    try:
        result = json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"{output.name} is not valid JSON: {exc}"
    return (result if isinstance(result, dict) else {"value": result}), ""


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    # x86 names the model; ARM kernels give "Model"/"Hardware" or only the CPU part number.
    for key in ("model name", "Model", "Hardware", "cpu model"):
        if fields.get(key):
            return fields[key]
    if "CPU part" in fields:
        return f"ARM CPU implementer {fields.get('CPU implementer', '?')} part {fields['CPU part']}"
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    """The instruction-set features the native core cares about."""
    interesting = {"sha_ni", "avx2", "ssse3", "sse4_1", "bmi2", "adx", "sha2", "asimd", "neon"}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return sorted(set(value.split()) & interesting)
    return []


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _native_variant() -> str | None:
    try:
        from edgeseal import native

        return str(native.dispatch_info().active)
    except Exception:  # the report still has value without it; say why in the log
        log.warning("could not ask the native core for its SHA-256 variant", exc_info=True)
        return None


def _openssl_version() -> str | None:
    try:
        from cryptography.hazmat.backends.openssl import backend

        return str(backend.openssl_version_text())
    except (ImportError, AttributeError):  # a cryptography without the OpenSSL backend
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """Where and when the figures were taken, so nobody compares them blindly."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": _git_commit(),
        "native_sha256_variant": _native_variant(),
        "libraries": {
            "edgeseal": _version("edgeseal"),
            "cryptography": _version("cryptography"),
            "openssl": _openssl_version(),
            "PyNaCl (bundles libsodium)": _version("PyNaCl"),
            "pymerkle": _version("pymerkle"),
        },
    }


def run_all(
    names: Sequence[str],
    *,
    quick: bool,
    timeout: float,
    bench_dir: Path = BENCH_DIR,
    results_dir: Path = RESULTS_DIR,
) -> dict[str, Any]:
    results_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    outcomes = []
    for name in names:
        outcome = run_one(
            name, quick=quick, timeout=timeout, bench_dir=bench_dir, results_dir=results_dir
        )
        print(
            f"  {name:10} {outcome.status:9} {outcome.seconds:7.1f} s"
            + (f"  {outcome.message.splitlines()[0]}" if outcome.message else ""),
            flush=True,
        )
        outcomes.append(outcome)
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "format": 1,
        "quick": quick,
        "machine": machine,
        "benchmarks": [asdict(o) for o in outcomes],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs (passed to every benchmark)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (repeatable), e.g. --only merkle",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per benchmark (default {DEFAULT_TIMEOUT_S:.0f}, "
        f"{QUICK_TIMEOUT_S:.0f} with --quick)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        help="where latest.json, latest.md and the charts go",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="do not run anything; rebuild latest.md and charts from latest.json",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from benchmarks import report  # matplotlib is imported lazily there

    latest_json = args.results / "latest.json"
    if args.report_only:
        latest = json.loads(latest_json.read_text(encoding="utf-8"))
    else:
        names = discover()
        if args.only:
            unknown = [n for n in args.only if n not in names]
            if unknown:
                parser.error(
                    f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}"
                )
            names = [n for n in names if n in args.only]
        timeout = args.timeout or (QUICK_TIMEOUT_S if args.quick else DEFAULT_TIMEOUT_S)
        print(
            f"running {len(names)} benchmark(s){' (quick)' if args.quick else ''}: {', '.join(names)}"
        )
        latest = run_all(names, quick=args.quick, timeout=timeout, results_dir=args.results)
        latest_json.write_text(json.dumps(latest, indent=2, default=str) + "\n", encoding="utf-8")
    written = report.write_report(latest, args.results)
    for path in [latest_json, *written]:
        print(f"wrote {path}")
    failed = [b["name"] for b in latest["benchmarks"] if b["status"] != "ok"]
    if failed:
        print(f"not ok: {', '.join(failed)} (see latest.md)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
