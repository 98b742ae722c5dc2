"""edgeseal's benchmarks.

Each ``bench_<name>.py`` measures one stage against its baseline in the same run
and writes ``results/bench_<name>.json`` (``--quick`` for a short run).
``python -m benchmarks`` (``run.py``) runs them all, one subprocess each, records
the machine, and ``report.py`` turns the results into ``results/latest.md`` and
PNG charts. Speed targets are ratios against the baseline measured in the same
run, never absolute times (docs/benchmarks.md).
"""
