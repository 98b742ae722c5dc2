"""Builds tests/native/c/test_ed25519.c with the Ed25519 core under AddressSanitizer and
UndefinedBehaviorSanitizer (64-bit field and the 10-limb 32-bit field) and runs it on
published vectors plus a few hundred fresh signatures, honest and corrupted."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ed25519_cases import rfc8032_cases, speccheck_cases, wycheproof_cases

REPO = Path(__file__).resolve().parents[2]
SPECCHECK_POLICY = [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
SANITIZE = [
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]


def _compiler() -> str:
    for cc in (os.environ.get("CC"), "clang", "gcc", "cc"):
        if cc and shutil.which(cc):
            return cc
    pytest.fail("no C compiler found (clang or gcc); scripts/test installs gcc")


def _line(expect: int, pk: bytes, sig: bytes, msg: bytes) -> str:
    return f"{expect} {pk.hex()} {sig.hex()} {msg.hex() or '-'}"


def _cases_file(path: Path) -> Path:
    lines = [_line(1, c.public_key, c.signature, c.message) for c in rfc8032_cases()]
    for c in wycheproof_cases():
        if len(c.public_key) == 32 and len(c.signature) == 64:
            lines.append(
                _line(int(c.source_verdict == "valid"), c.public_key, c.signature, c.message)
            )
    for c, expect in zip(speccheck_cases(), SPECCHECK_POLICY):
        lines.append(_line(expect, c.public_key, c.signature, c.message))
    # Fresh signatures: runs sharing one key (so the batch merges its terms) and
    # corrupted items at random positions.
    rng = random.Random(0xC0DE)
    for run in range(3):
        sk = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        for i in range(70):
            msg = rng.randbytes(rng.choice([0, 1, 64, 200]))
            sig = bytearray(sk.sign(msg))
            expect = 1
            if rng.random() < 0.1:
                sig[rng.randrange(64)] ^= 1 << rng.randrange(8)
                expect = 0
            lines.append(_line(expect, pk, bytes(sig), msg))
    path.write_text("\n".join(lines) + "\n")
    return path


def _build_and_run(tmp_path: Path, defines: list[str]) -> None:
    cc = _compiler()
    sources = sorted(str(p) for p in (REPO / "native" / "src").glob("ed25519_*.c"))
    sources += sorted(str(p) for p in (REPO / "native" / "src").glob("sha512_*.c"))
    exe = tmp_path / "test_ed25519"
    cmd = [
        cc,
        "-std=gnu11",
        "-O1",
        "-g",
        *SANITIZE,
        *WARNINGS,
        *defines,
        f"-I{REPO / 'native' / 'src'}",
        f"-I{REPO / 'native' / 'include'}",
        str(REPO / "tests" / "native" / "c" / "test_ed25519.c"),
        *sources,
        "-o",
        str(exe),
    ]
    build = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert build.returncode == 0, f"build failed ({' '.join(cmd)}):\n{build.stderr}"
    cases = _cases_file(tmp_path / "cases.txt")
    env = dict(
        os.environ,
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
    )
    run = subprocess.run(
        [str(exe), str(cases)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert run.returncode == 0, f"C tests failed:\n{run.stdout}\n{run.stderr}"
    assert run.stdout.startswith("ok:"), run.stdout


def test_core_under_asan_ubsan_64bit_field(tmp_path: Path) -> None:
    _build_and_run(tmp_path, [])


def test_core_under_asan_ubsan_32bit_field(tmp_path: Path) -> None:
    _build_and_run(tmp_path, ["-DES_FE25"])


def test_core_compiles_without_warnings_at_release_flags(tmp_path: Path) -> None:
    cc = _compiler()
    for defines in ([], ["-DES_FE25"]):
        for src in sorted((REPO / "native" / "src").glob("ed25519_*.c")) + sorted(
            (REPO / "native" / "src").glob("sha512_*.c")
        ):
            cmd = [
                cc,
                "-std=gnu11",
                "-O3",
                *WARNINGS,
                *defines,
                "-c",
                str(src),
                "-o",
                str(tmp_path / "x.o"),
                f"-I{REPO / 'native' / 'src'}",
                f"-I{REPO / 'native' / 'include'}",
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert out.returncode == 0, f"{src.name} {defines}: {out.stderr}"
