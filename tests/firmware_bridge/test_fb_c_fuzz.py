"""libFuzzer run of the C reference's decoder, unpacker and COBS under ASan + UBSan."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgeseal.firmware_bridge.frame import Frame, encode_frame, pack_frame

C_DIR = Path(__file__).resolve().parents[2] / "firmware_bridge" / "c"


def test_c_decoder_fuzz_target_runs_clean(tmp_path: Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        pytest.fail("clang not found; scripts/test installs clang and libclang-rt-dev (libFuzzer)")
    exe = tmp_path / "fuzz_fb_decoder"
    sources = sorted(str(p) for p in C_DIR.glob("fb_*.c"))
    build = subprocess.run(
        [
            clang,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-O1",
            "-fsanitize=fuzzer,address,undefined",
            "-fno-sanitize-recover=all",
            f"-I{C_DIR}",
            *sources,
            str(C_DIR / "tests" / "fuzz_fb_decoder.c"),
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert build.returncode == 0, (
        f"fuzzer build failed (libFuzzer is in libclang-rt-dev):\n{build.stderr}"
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = [Frame(t, 1, 2, 3, bytes(range(n))) for t, n in ((1, 30), (2, 18), (5, 12), (3, 0))]
    for i, f in enumerate(seeds):
        (corpus / f"stream{i}").write_bytes(
            b"\x07\x00" + encode_frame(f) + b"junk\x00" + encode_frame(f)
        )
        (corpus / f"body{i}").write_bytes(b"\x00" + pack_frame(f))
    run = subprocess.run(
        [str(exe), "-runs=200000", "-max_len=700", "-seed=1", str(corpus)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Done 200000 runs" in run.stderr
