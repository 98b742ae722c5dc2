"""The benchmark runner reports every benchmark's fate, and the report renders real charts.

Fake benchmarks (real scripts, run as real subprocesses) stand in for the project's
own so the test is fast and can make a benchmark fail, hang or lie on purpose.
"""

from __future__ import annotations

import json
import os
import struct
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks import report, run

OK_BENCH = """
import json, sys
from pathlib import Path
rows = []
for impl, speed in (("native batch", 40.0), ("libsodium", 3.0), ("openssl", 2.5)):
    for batch in (1, 16, 64, 256, 1024):
        rows.append({"impl": impl, "batch": batch, "keys": "same", "threads": 1,
                     "sigs_per_s": speed * 1000 * (1 + batch / 64)})
doc = {"benchmark": "verify", "argv": sys.argv[1:], "rows": rows,
       "ratios": {"batch1024_vs_libsodium": 13.3}}
out = Path(sys.argv[sys.argv.index("--output") + 1])
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps(doc))
print("done")
"""
FAIL_BENCH = """
import sys
print("setting up", flush=True)
sys.stderr.write("Traceback: boom: the broker would not start\\n")
sys.exit(3)
"""
SILENT_BENCH = "print('forgot to write the JSON')\n"
LATE_FAIL_BENCH = """
import json, sys
from pathlib import Path
out = Path(sys.argv[sys.argv.index("--output") + 1])
out.write_text(json.dumps({"rows": [{"workers": 1, "batch": 64, "readings_per_s": 5.0},
                                    {"workers": 1, "batch": 1024, "readings_per_s": 9.0}]}))
sys.exit("target missed: 9 readings/s < 100000")
"""
SLOW_BENCH = "import time\ntime.sleep(60)\n"


@pytest.fixture
def fake_benchmarks(tmp_path: Path) -> Path:
    pkg = tmp_path / "fakebench"
    (pkg / "results").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for name, body in (
        ("verify", OK_BENCH),
        ("decoder", FAIL_BENCH),
        ("agent", SILENT_BENCH),
        ("slow", SLOW_BENCH),
        ("verifier", LATE_FAIL_BENCH),
    ):
        (pkg / f"bench_{name}.py").write_text(textwrap.dedent(body))
    # A result left by an earlier run: must not be passed off as this run's.
    stale = pkg / "results" / "bench_agent.json"
    stale.write_text(json.dumps({"rows": [{"batch": 1, "per_s": 1.0}]}))
    old = time.time() - 3600
    os.utime(stale, (old, old))
    return pkg


def _outcomes(latest: dict) -> dict[str, dict]:
    return {b["name"]: b for b in latest["benchmarks"]}


def test_every_outcome_is_reported(fake_benchmarks: Path) -> None:
    results = fake_benchmarks / "results"
    latest = run.run_all(
        ["verify", "decoder", "agent", "merkle", "verifier"],
        quick=True,
        timeout=120,
        bench_dir=fake_benchmarks,
        results_dir=results,
    )
    got = _outcomes(latest)
    assert got["verify"]["status"] == "ok"
    assert got["verify"]["result"]["argv"] == [
        "--quick",
        "--output",
        str(results / "bench_verify.json"),
    ], "--quick or --output was not passed through"
    assert got["decoder"]["status"] == "failed"
    assert got["decoder"]["returncode"] == 3
    assert "boom: the broker would not start" in got["decoder"]["message"]
    assert got["agent"]["status"] == "no-result"
    assert got["agent"]["result"] is None
    assert got["merkle"]["status"] == "missing"
    assert got["verifier"]["status"] == "failed"
    assert got["verifier"]["result"]["rows"][1]["readings_per_s"] == 9.0  # kept, not hidden
    machine = latest["machine"]
    assert machine["cores"] >= 1 and machine["python"] and machine["date_utc"]
    assert machine["cpu_model"]

    written = report.write_report(latest, results)
    md = (results / "latest.md").read_text()
    for name, status in (
        ("verify", "ok"),
        ("decoder", "failed"),
        ("agent", "no-result"),
        ("merkle", "missing"),
    ):
        assert f"| {name} | {status} |" in md, md
    assert "**FAILED**" in md and "boom" in md
    assert "**MISSING**" in md
    assert "target missed: 9 readings/s" in md and "What it wrote before failing" in md
    assert "| workers | batch | readings_per_s |" in md
    assert "| impl | batch | keys | threads | sigs_per_s |" in md
    assert "ratios.batch1024_vs_libsodium: 13.3" in md
    png = results / "verify.png"
    assert png in written and "![verify](verify.png)" in md
    _assert_png(png, min_width=600)


def test_results_elsewhere_leave_the_benchmark_folder_alone(
    fake_benchmarks: Path, tmp_path: Path
) -> None:
    # `python -m benchmarks --results DIR` once let every benchmark write into
    # benchmarks/results (over the committed figures) and then judged DIR empty.
    elsewhere = tmp_path / "elsewhere"
    latest = run.run_all(
        ["verify"], quick=True, timeout=120, bench_dir=fake_benchmarks, results_dir=elsewhere
    )
    assert _outcomes(latest)["verify"]["status"] == "ok"
    assert (elsewhere / "bench_verify.json").is_file()
    assert not (fake_benchmarks / "results" / "bench_verify.json").exists()


def test_a_hanging_benchmark_is_killed_and_reported(fake_benchmarks: Path) -> None:
    outcome = run.run_one(
        "slow",
        quick=False,
        timeout=1.0,
        bench_dir=fake_benchmarks,
        results_dir=fake_benchmarks / "results",
    )
    assert outcome.status == "timeout"
    assert "killed" in outcome.message


def test_chart_roles_need_a_size_and_a_rate() -> None:
    table = report.to_table(
        [
            {"impl": "native", "leaves": 1024, "leaves_per_s": 1e6, "seconds": 0.001},
            {"impl": "hashlib", "leaves": 1024, "leaves_per_s": 1e5, "seconds": 0.01},
            {"impl": "native", "leaves": 65536, "leaves_per_s": 2e6, "seconds": 0.03},
        ]
    )
    roles = report.chart_roles(table)
    assert roles is not None
    assert (roles.size, roles.rate, roles.series, roles.per_unit) == (
        "leaves",
        "leaves_per_s",
        ["impl"],
        None,
    )
    timed = report.to_table(
        [
            {"implementation": "native batch", "batch": 16, "threads": 1, "us_per_sig": 20.0},
            {"implementation": "native batch", "batch": 64, "threads": 2, "us_per_sig": 10.0},
            {"implementation": "libsodium", "batch": 1, "threads": 1, "us_per_sig": 80.0},
        ]
    )
    roles = report.chart_roles(timed)
    assert roles is not None and roles.rate == "us_per_sig" and roles.per_unit == 1e6
    assert roles.series == ["implementation", "threads"]
    assert roles.y(timed.rows[0]) == 50_000.0
    flat = report.to_table([{"impl": "x", "note": "no sizes"}])
    assert report.chart_roles(flat) is None


def _assert_png(path: Path, min_width: int) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_width and height >= 300, (width, height)
    assert len(data) > 10_000, "suspiciously small chart (empty axes?)"
