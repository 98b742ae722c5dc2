"""Smoke checks for an *installed* edgeseal (a wheel in a fresh environment).

Run it with the interpreter of the environment under test, from a directory
outside the checkout, so that nothing can be imported from the source tree::

    /path/to/venv/bin/python tests/packaging/wheel_smoke.py [--prefix /path/to/venv]

cibuildwheel runs it on every wheel (``test-command`` in pyproject.toml) and
``tests/packaging/test_wheel.py`` runs it in a venv built from ``pip wheel .``.
It prints one line per check and exits 1 on the first failure, naming it. It
uses only the standard library and edgeseal's own runtime dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path

PACKAGES = tuple(
    f"edgeseal.{name}"
    for name in ("native", "firmware_bridge", "wire", "agent", "verifier", "plumbing", "testing")
) + ("edgeseal",)
EXTENSIONS = (
    "edgeseal.native._hashing",
    "edgeseal.native._ed25519",
    "edgeseal.firmware_bridge._fbcore",
)


class SmokeFailure(Exception):
    """One check failed; the message says which and why."""


def _site_dirs() -> list[Path]:
    paths = sysconfig.get_paths()
    return [Path(paths[key]).resolve() for key in ("purelib", "platlib")]


def _is_within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def check_locations(prefix: Path | None) -> str:
    """Every package and compiled module comes from this interpreter's site-packages."""
    sites = _site_dirs()
    if prefix is not None:
        prefix = prefix.resolve()
        if Path(sys.prefix).resolve() != prefix:
            raise SmokeFailure(f"running under sys.prefix={sys.prefix}, expected {prefix}")
        if not all(_is_within(site, [prefix]) for site in sites):
            raise SmokeFailure(f"site-packages {sites} is not inside {prefix}")
    for name in PACKAGES + EXTENSIONS:
        module = importlib.import_module(name)
        origin = getattr(module, "__file__", None)
        if origin is None:
            raise SmokeFailure(
                f"{name} has no __file__ (namespace package from a stray directory?)"
            )
        where = Path(origin).resolve()
        if not _is_within(where, sites):
            raise SmokeFailure(f"{name} imported from {where}, not from site-packages {sites}")
    from edgeseal import native

    for old in ("native", "agent", "verifier", "firmware_bridge"):
        try:
            importlib.import_module(old)
        except ModuleNotFoundError:
            continue
        raise SmokeFailure(
            f"'import {old}' works: the wheel must install the edgeseal namespace only"
        )
    return f"packages and extensions come from {Path(native.__file__).resolve().parent.parent}"


def check_extensions() -> str:
    """The cffi modules are real compiled libraries, built for the stable ABI."""
    suffixes = []
    for name in EXTENSIONS:
        module = importlib.import_module(name)
        path = Path(module.__file__ or "")
        if not path.name.endswith(".so"):
            raise SmokeFailure(f"{name} is {path.name}, expected a compiled .so")
        suffixes.append(path.name.split(".", 1)[1])
        if not hasattr(module, "lib") or not hasattr(module, "ffi"):
            raise SmokeFailure(f"{name} is not a cffi module (no lib/ffi)")
    return "compiled modules load: " + ", ".join(sorted(set(suffixes)))


def _require(module: object, name: str) -> Callable[..., object]:
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SmokeFailure(
            f"native.{name} is missing; docs/architecture.md lists it in the native API"
        )
    return fn  # type: ignore[no-any-return]


def check_sha256() -> str:
    """SHA-256 through the dispatcher agrees with hashlib around the block boundaries."""
    from edgeseal import native

    sha256 = _require(native, "sha256")
    for length in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4096 + 3):
        data = bytes((i * 7 + 3) & 0xFF for i in range(length))
        got = sha256(data)
        if got != hashlib.sha256(data).digest():
            raise SmokeFailure(f"native.sha256 differs from hashlib at length {length}")
    return "sha256 matches hashlib on 11 lengths"


def _rfc9162_root(leaves: Sequence[bytes]) -> bytes:
    """Reference Merkle tree hash, RFC 9162 section 2.1.1, written for clarity only."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    left = _rfc9162_root(leaves[:split])
    right = _rfc9162_root(leaves[split:])
    return hashlib.sha256(b"\x01" + left + right).digest()


def check_merkle() -> str:
    """The native Merkle root equals the RFC 9162 definition for several tree shapes."""
    from edgeseal import native

    merkle_root = _require(native, "merkle_root")
    for count in (1, 2, 3, 5, 8, 13):
        leaves = [f"leaf-{i}".encode() * (i + 1) for i in range(count)]
        if merkle_root(leaves) != _rfc9162_root(leaves):
            raise SmokeFailure(f"native.merkle_root differs from RFC 9162 for {count} leaves")
    return "merkle_root matches RFC 9162 for 1..13 leaves"


def _verifies(verify: Callable[..., object], key: bytes, message: bytes, sig: bytes) -> bool:
    """native.verify returns a bool (a failed verification is a result, not an error)."""
    result = verify(key, message, sig)
    if not isinstance(result, bool):
        raise SmokeFailure(f"native.verify returned {result!r}, expected True or False")
    return result


def check_ed25519() -> str:
    """A signature made by `cryptography` verifies natively; a flipped bit does not."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from edgeseal import native

    verify = _require(native, "verify")
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    message = b"ESR\x01 smoke test reading"
    signature = key.sign(message)
    if not _verifies(verify, public, message, signature):
        raise SmokeFailure("native.verify rejected a valid signature made by cryptography")
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    if _verifies(verify, public, message, tampered):
        raise SmokeFailure("native.verify accepted a signature with bit 0 flipped")
    return "ed25519 verify accepts a good signature and rejects a flipped bit"


def check_cli() -> str:
    """The console script installed with the wheel runs."""
    scripts = Path(sysconfig.get_paths()["scripts"])
    exe = scripts / "edgeseal"
    if not exe.exists():
        raise SmokeFailure(f"console script {exe} was not installed")
    out = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    from edgeseal import __version__

    if out.returncode != 0 or out.stdout.strip() != __version__:
        raise SmokeFailure(
            f"'{exe} --version' gave rc={out.returncode} stdout={out.stdout!r} "
            f"stderr={out.stderr[-500:]!r}"
        )
    info = subprocess.run(
        [str(exe), "info"], capture_output=True, text=True, timeout=60, check=False
    )
    if info.returncode != 0 or "sha256 variant:" not in info.stdout:
        raise SmokeFailure(
            f"'{exe} info' gave rc={info.returncode} stdout={info.stdout!r} "
            f"stderr={info.stderr[-500:]!r}"
        )
    variant = info.stdout.split("sha256 variant:", 1)[1].split()[0]
    return f"console script: --version -> {__version__}; info -> sha256 variant {variant}"


CHECKS: tuple[Callable[[], str], ...] = (
    check_extensions,
    check_sha256,
    check_merkle,
    check_ed25519,
    check_cli,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, help="the environment this must run in (sys.prefix)")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    # The script's own directory is sys.path[0]; it holds no package, but say so if
    # someone runs it from a checkout root by mistake.
    if (here / "native").exists():
        print(f"FAIL refusing to run next to a 'native' directory ({here})")
        return 1
    checks: list[Callable[[], str]] = [lambda: check_locations(args.prefix), *CHECKS]
    for check in checks:
        try:
            detail = check()
        except SmokeFailure as exc:
            print(f"FAIL {exc}")
            return 1
        except Exception as exc:  # noqa: BLE001 - any crash is a failed smoke test: say which
            name = getattr(check, "__name__", "check")
            print(f"FAIL {name} raised {type(exc).__name__}: {exc}")
            return 1
        print(f"ok   {detail}")
    print(
        f"all {len(checks)} smoke checks passed (python {sys.version.split()[0]}, {os.uname().machine})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
