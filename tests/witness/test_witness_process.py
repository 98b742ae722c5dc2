"""``edgeseal witness`` as a real process: configuration, restarts, and state kept across SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from witness_helpers import ORIGIN, SampleLog

from edgeseal.plumbing.keyfile import save_private_key
from edgeseal.testing.broker import free_port
from edgeseal.tlog.cosignature import CosignatureSigner, CosignatureVerifier
from edgeseal.witness.client import WitnessRefused, request_cosignature

WITNESS_NAME = "witness.example/w1"


class WitnessProcess:
    def __init__(self, tmp: Path, log: SampleLog) -> None:
        self.port = free_port()
        self.key = Ed25519PrivateKey.generate()
        save_private_key(self.key, tmp / "witness.pem", what="witness key")
        self.config = tmp / "witness.toml"
        self.config.write_text(
            tomli_w.dumps(
                {
                    "witness": {
                        "name": WITNESS_NAME,
                        "key": "witness.pem",
                        "state": "state.sqlite",
                        "listen": f"127.0.0.1:{self.port}",
                        "request_timeout_s": 5,
                    },
                    "log": [{"origin": ORIGIN, "vkey": log.vkey()}],
                }
            )
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = tmp / "witness.stderr"

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "edgeseal", "witness", "--config", str(self.config), *extra]

    def start(self) -> None:
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(self.command(), stderr=err)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"witness exited: {self.stderr.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("witness did not listen within 15 s")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=10)
        self.proc = None
        return code

    def close(self) -> None:
        if self.proc is not None:
            self.kill()


@pytest.fixture
def log() -> SampleLog:
    return SampleLog.new()


@pytest.fixture
def witness(tmp_path: Path, log: SampleLog) -> Iterator[WitnessProcess]:
    w = WitnessProcess(tmp_path, log)
    try:
        yield w
    finally:
        w.close()


def _cosign(w: WitnessProcess, log: SampleLog, old: int, size: int) -> int | None:
    sigs = request_cosignature(w.url, old, log.proof(old, size), log.note(size), 5)
    verifier = CosignatureVerifier.from_vkey(CosignatureSigner(WITNESS_NAME, w.key).verifier_key())
    return verifier.verify(log.checkpoint(size), sigs[0])


def test_state_survives_sigkill_and_split_view_stays_refused(
    witness: WitnessProcess, log: SampleLog
) -> None:
    witness.start()
    before = int(time.time())
    stamp = _cosign(witness, log, 0, 5)
    assert stamp is not None and before <= stamp <= int(time.time()) + 1
    witness.kill(signal.SIGKILL)
    witness.start()
    # Another tree under the same log key, sent as if the witness had never seen the log.
    forged = SampleLog.new("forged")
    forged.signer = log.signer
    with pytest.raises(WitnessRefused) as info:
        request_cosignature(witness.url, 0, [], forged.note(5), 5)
    assert (info.value.status, info.value.old_size) == (409, 5)
    assert _cosign(witness, log, 5, 9) is not None
    assert witness.kill(signal.SIGTERM) == 0


def test_print_vkey_and_bad_config(witness: WitnessProcess, tmp_path: Path) -> None:
    out = subprocess.run(
        witness.command("--print-vkey"), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == CosignatureSigner(WITNESS_NAME, witness.key).verifier_key()
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps({"witness": {"name": WITNESS_NAME, "key": "witness.pem"}}))
    run = subprocess.run(
        [sys.executable, "-m", "edgeseal", "witness", "--config", str(bad)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "no [[log]] configured" in run.stderr
    os.chmod(tmp_path / "witness.pem", 0o644)
    run = subprocess.run(witness.command(), check=False, capture_output=True, text=True)
    assert run.returncode == 2 and "chmod 600" in run.stderr
