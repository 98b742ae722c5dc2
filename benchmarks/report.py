"""Turn ``results/latest.json`` into ``results/latest.md`` and PNG charts.

The benchmarks do not share one schema, so the report reads each one's JSON
by convention (docs/benchmarks.md): the first list of flat objects it finds is
the table of measurements ("rows"); top-level numbers and small objects of
numbers (ratios, targets) are the headline. Charts are drawn from rows that have a
size column (batch size, leaf count) and a rate column (something "per second"):
one line per combination of the other text-valued columns (implementation, keys,
threads), log-log axes, edgeseal's lines solid and the baselines' (hashlib,
pymerkle, libsodium, OpenSSL, pure Python) dashed, so they sit on one chart each.

    python -m benchmarks.report [results_dir]   # re-render without re-running
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Column names, matched case-insensitively, that play each role in a chart.
_SIZE = re.compile(
    r"^(batch(_size)?|size|leaves|n_leaves|leaf_count|count|n|messages|frames)$", re.IGNORECASE
)
_RATE = re.compile(r"(per_s(ec(ond)?)?$|_per_sec|/s$|ops|throughput|rate$)", re.IGNORECASE)
# Lines whose label names one of these are the baselines (dashed); the rest are ours.
_BASELINE = re.compile(
    r"hashlib|pymerkle|pynacl|libsodium|cryptography|openssl|python", re.IGNORECASE
)
_ROW_KEYS = ("rows", "results", "measurements", "cases", "data", "points")
_CHART_TITLES = {
    "verify": "Ed25519 verification throughput vs batch size (native vs libsodium and OpenSSL)",
    "merkle": "Merkle root throughput vs tree size (native vs hashlib and pymerkle)",
}


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]


def find_rows(doc: Any) -> list[dict[str, Any]]:
    """The measurements: the first list of flat dicts, preferring conventional key names."""
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        return [r for r in doc]
    if not isinstance(doc, dict):
        return []
    ordered = [k for k in _ROW_KEYS if k in doc] + [k for k in doc if k not in _ROW_KEYS]
    for key in ordered:
        found = find_rows(doc[key])
        if found:
            return found
    return []


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """One level of nesting is flattened to "outer.inner" so it still fits a table."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            for inner, v in value.items():
                if not isinstance(v, (dict, list)):
                    out[f"{key}.{inner}"] = v
        elif not isinstance(value, list):
            out[key] = value
    return out


def to_table(rows: Sequence[dict[str, Any]]) -> Table:
    flat = [_flat(r) for r in rows]
    columns: list[str] = []
    for row in flat:
        columns.extend(k for k in row if k not in columns)
    return Table(columns, flat)


def headline(doc: Any, rows_found: bool) -> list[tuple[str, Any]]:
    """Top-level scalars and one level of nested scalars (ratios, targets, settings)."""
    if not isinstance(doc, dict):
        return []
    items: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key == "machine":  # the report has its own machine section
            continue
        if isinstance(value, dict):
            for inner, v in value.items():
                if isinstance(v, (str, int, float, bool)) or v is None:
                    items.append((f"{key}.{inner}", v))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            items.append((key, value))
        elif (
            isinstance(value, list)
            and not rows_found
            and all(isinstance(v, (str, int, float)) for v in value)
        ):
            items.append((key, ", ".join(str(v) for v in value)))
    return items


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        digits = max(0, 3 - math.floor(math.log10(abs(value))) - 1)
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return lines


# --- charts -------------------------------------------------------------------------


def _numeric(values: Iterable[Any]) -> bool:
    vals = list(values)
    return bool(vals) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)


@dataclass(frozen=True)
class ChartRoles:
    size: str  # x axis
    rate: str  # the column the y value comes from
    series: list[str]  # one line per combination of these columns
    per_unit: float | None = None  # y = per_unit / value for "us_per_sig"-style columns

    @property
    def y_label(self) -> str:
        if self.per_unit is None:
            return self.rate.replace("_", " ")
        what = self.rate.split("_per_", 1)[1]
        return f"{what} per second (from {self.rate})"

    def y(self, row: dict[str, Any]) -> float | None:
        value = row.get(self.rate)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if self.per_unit is None:
            return float(value)
        return self.per_unit / float(value) if value > 0 else None


_TIME_PER = re.compile(r"^(?P<unit>ns|us|ms|s|seconds)_per_\w+$", re.IGNORECASE)
_UNIT = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0, "seconds": 1.0}


def chart_roles(table: Table) -> ChartRoles | None:
    """Which columns to chart, or None if the rows cannot be charted.

    x: the first size-like column with at least two distinct numeric values.
    y: a rate column ("..._per_s"), else a time-per-item column ("us_per_sig")
    turned into a rate. Series: the text columns plus thread/worker counts.
    """
    size = None
    for col in table.columns:
        if not _SIZE.match(col.split(".")[-1]):
            continue
        values = [r.get(col) for r in table.rows if col in r]
        if _numeric(values) and len(set(values)) >= 2:
            size = col
            break
    if size is None:
        return None
    rate = next(
        (
            c
            for c in table.columns
            if _RATE.search(c) and c != size and _numeric(r[c] for r in table.rows if c in r)
        ),
        None,
    )
    per_unit = None
    if rate is None:
        for col in table.columns:
            match = _TIME_PER.match(col)
            if match and _numeric(r[col] for r in table.rows if col in r):
                rate, per_unit = col, _UNIT[match.group("unit").lower()]
                break
    if rate is None:
        return None
    # Series: the columns that name what was measured, not what was measured. Text
    # columns, plus small-integer settings such as a thread count.
    series = []
    for col in table.columns:
        if col in (size, rate):
            continue
        vals = [r.get(col) for r in table.rows]
        distinct = {v for v in vals if v is not None}
        if not distinct or len(distinct) == 1 and len(table.rows) > 1:
            continue
        if (
            all(isinstance(v, str) for v in distinct)
            or col.lower() in _SETTINGS
            and len(distinct) <= 8
        ):
            series.append(col)
    # Each line must have one point per size; if not, another integer column is a
    # setting that varies too (a burst length, say): split the lines by it as well.
    extra = [
        c
        for c in table.columns
        if c not in (size, rate, *series)
        and _numeric(r.get(c) for r in table.rows)
        and all(float(r[c]).is_integer() for r in table.rows)
        and 1 < len({r[c] for r in table.rows}) <= 8
    ]
    while not _one_point_per_size(table, size, series):
        if not extra:
            return None
        series.append(extra.pop(0))
    return ChartRoles(size, rate, series, per_unit)


_SETTINGS = ("threads", "workers", "keys", "processes", "burst", "devices")


def _one_point_per_size(table: Table, size: str, series: list[str]) -> bool:
    seen = set()
    for row in table.rows:
        key = (row.get(size), *(row.get(c) for c in series))
        if key in seen:
            return False
        seen.add(key)
    return True


def draw_chart(name: str, table: Table, path: Path) -> bool:
    roles = chart_roles(table)
    if roles is None:
        return False
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[float, float]]] = {}
    for row in table.rows:
        x, y = row.get(roles.size), roles.y(row)
        if not isinstance(x, (int, float)) or y is None:
            continue
        label = (
            ", ".join(
                f"{c} {row.get(c)}" if not isinstance(row.get(c), str) else f"{row.get(c)}"
                for c in roles.series
            )
            or roles.y_label
        )
        lines.setdefault(label, []).append((float(x), y))
    all_x = sorted({x for points in lines.values() for x, _ in points})
    fig, ax = plt.subplots(figsize=(9.5, 5.8), dpi=110)
    markers = "osD^v<>pXh*"
    for i, (label, points) in enumerate(sorted(lines.items(), key=lambda kv: _natural(kv[0]))):
        points.sort()
        native = not _BASELINE.search(label)
        if len(points) == 1 and points[0][0] == 1 and len(all_x) > 1:
            # Measured one by one only (a baseline without batching): its rate does
            # not depend on the batch size, so it is drawn across the whole range.
            ax.hlines(
                points[0][1],
                all_x[0],
                all_x[-1],
                linestyles=":" if native else "--",
                colors=f"C{i % 10}",
                label=f"{label} (no batching)",
                linewidth=1.6,
            )
            continue
        xs, ys = zip(*points)
        ax.plot(
            xs,
            ys,
            "-" if native else "--",
            marker=markers[i % len(markers)],
            color=f"C{i % 10}",
            label=label,
            linewidth=1.6,
        )
    ax.set_xscale("log", base=2 if all(_is_pow2(x) for x in all_x) else 10)
    ax.set_yscale("log")
    ax.set_xlabel(roles.size.replace("_", " "))
    ax.set_ylabel(roles.y_label)
    ax.set_title(_CHART_TITLES.get(name, f"{name}: {roles.y_label} vs {roles.size}"), fontsize=10)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(fontsize=7.5, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def _natural(label: str) -> list[Any]:
    """Sort key that puts "burst 64" before "burst 256"."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", label)]


def _is_pow2(x: float) -> bool:
    return x >= 1 and float(x).is_integer() and (int(x) & (int(x) - 1)) == 0


# --- the report -----------------------------------------------------------------------


def _machine_lines(machine: dict[str, Any], quick: bool) -> list[str]:
    libs = machine.get("libraries", {}) or {}
    cores = f"{machine.get('cores')} ({machine.get('usable_cores')} usable)"
    load = machine.get("load_average")
    load_after = machine.get("load_average_after")
    lines = [
        (
            f"- CPU: {machine.get('cpu_model')} ({machine.get('machine')}), "
            f"features: {', '.join(machine.get('cpu_flags') or []) or 'none detected'}"
        ),
        f"- Cores: {cores}; load average at start {load}, at end {load_after}",
        f"- Python: {machine.get('python')}; OS: {machine.get('os')}",
        (
            f"- Date: {machine.get('date_utc')}; commit {machine.get('git_commit')}; "
            f"{'quick run (--quick)' if quick else 'full run'}"
        ),
        f"- Native SHA-256 variant: {machine.get('native_sha256_variant')}",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items() if v),
    ]
    if (
        isinstance(load, list)
        and load
        and machine.get("usable_cores")
        and load[0] > 0.5 * float(machine["usable_cores"])
    ):
        lines.append(
            "- **The machine was busy during this run (load average above half the "
            "cores): treat the absolute figures as pessimistic; the ratios, measured "
            "in the same run, are the figures to compare.**"
        )
    return lines


def render(latest: dict[str, Any], results_dir: Path) -> tuple[str, list[Path]]:
    charts: list[Path] = []
    benches = latest.get("benchmarks", [])
    out = [
        "# edgeseal benchmark results",
        "",
        (
            "Generated by `python -m benchmarks` (benchmarks/run.py, report.py); "
            "see docs/benchmarks.md for what each benchmark measures."
        ),
        "",
        "## Machine",
        "",
    ]
    out += _machine_lines(latest.get("machine", {}), bool(latest.get("quick")))
    out += ["", "## Summary", ""]
    summary = []
    for b in benches:
        note = b["message"].splitlines()[0] if b.get("message") else ""
        summary.append((b["name"], b["status"], f"{b.get('seconds') or 0.0:.1f}", note))
    out += markdown_table(["benchmark", "status", "seconds", "note"], summary)

    for b in benches:
        out += ["", f"## {b['name']}", ""]
        if b["status"] != "ok":
            out += [
                f"**{b['status'].upper()}**: `{' '.join(b['command'][1:])}`",
                "",
                "```",
                b.get("message", "").strip() or "(no output)",
                "```",
            ]
            if not b.get("result"):
                continue
            out += ["", "What it wrote before failing:", ""]
        doc = b.get("result") or {}
        rows = find_rows(doc)
        for key, value in headline(doc, bool(rows)):
            out.append(f"- {key}: {fmt(value)}")
        if rows:
            table = to_table(rows)
            out += [""] + markdown_table(
                table.columns, ([r.get(c, "") for c in table.columns] for r in table.rows)
            )
            png = results_dir / f"{b['name']}.png"
            if draw_chart(b["name"], table, png):
                charts.append(png)
                out += ["", f"![{b['name']}]({png.name})"]
        elif not headline(doc, False):
            out += ["```json", json.dumps(doc, indent=2)[:4000], "```"]
    return "\n".join(out) + "\n", charts


def write_report(latest: dict[str, Any], results_dir: Path = RESULTS_DIR) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    text, charts = render(latest, results_dir)
    md = results_dir / "latest.md"
    md.write_text(text, encoding="utf-8")
    return [md, *charts]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    results_dir = Path(args[0]) if args else RESULTS_DIR
    latest = json.loads((results_dir / "latest.json").read_text(encoding="utf-8"))
    for path in write_report(latest, results_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
