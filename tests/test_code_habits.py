"""The code habits CI enforces: ruff lint, ruff formatting and mypy --strict.

The tools are pinned in the ``test`` extra, so every machine judges the same way; their
settings are in pyproject.toml. ``.pre-commit-config.yaml`` runs the same before a commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_finds_nothing() -> None:
    run = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert run.returncode == 0, f"ruff check found problems:\n{run.stdout}{run.stderr}"


def test_every_file_is_ruff_formatted() -> None:
    run = _run("ruff", "format", "--no-cache", "--check", ".")
    assert run.returncode == 0, (
        f"run 'ruff format .'; these files are not formatted:\n{run.stdout}{run.stderr}"
    )


def test_mypy_strict_passes_over_the_whole_package() -> None:
    # [tool.mypy] in pyproject.toml: strict, packages = ["edgeseal"]. The cache lives in
    # .mypy_cache inside the checkout, so only the first run is slow.
    run = _run("mypy")
    assert run.returncode == 0, f"mypy --strict reports:\n{run.stdout}{run.stderr}"
    assert "Success" in run.stdout, run.stdout
