"""Runs the atheris decoder fuzz target for a bounded number of inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgeseal.firmware_bridge.frame import Frame, encode_frame

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def test_decoder_fuzz_target_runs_clean(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # Seeds: valid frames, so mutations explore near-valid input, not only noise.
    seeds = [
        encode_frame(Frame(t, 1, 2, 3, bytes(range(n)))) for t, n in ((1, 30), (2, 18), (5, 12))
    ]
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(b"\x00" + seed + b"junk\x00" + seed)
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "fuzz_fb_decoder.py"),
            "-runs=20000",
            "-max_len=1024",
            "-seed=1",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done 20000 runs" in run.stderr
