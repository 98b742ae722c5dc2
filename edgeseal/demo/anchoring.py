"""The demo's transparency log: a log key, one witness (a real ``edgeseal witness``
process), a local RFC 3161 TSA (``openssl ts`` on loopback) and the embedded EVM chain,
so the demo's receipt checks from the reading through to the anchors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.demo.configs import write_config
from edgeseal.demo.errors import DemoError
from edgeseal.demo.processes import Children, edgeseal_argv
from edgeseal.plumbing.keyfile import save_private_key
from edgeseal.testing.broker import free_port
from edgeseal.testing.tsa import LocalTsa, TsaError
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.tlog.note import NoteSigner

ORIGIN = "demo.edgeseal.invalid/log"
WITNESS_NAME = "demo.edgeseal.invalid/witness"
# Often enough that the receipt, made a few seconds after the devices stop, is in one.
CHECKPOINT_INTERVAL_S = 2.0


@dataclass
class DemoLog:
    """What the verifier's [log] needs and what a checker of the receipt trusts."""

    section: dict[str, Any]  # the verifier's [log] table
    log_vkey: str
    witness_vkey: str
    tsa_ca: Path
    tsa: LocalTsa

    def check_args(self) -> list[str]:
        """``edgeseal check-receipt`` options that trust this log, witness and TSA."""
        return [
            "--log-key",
            self.log_vkey,
            "--witness-key",
            self.witness_vkey,
            "--tsa-ca",
            str(self.tsa_ca),
            "--anchors-needed",
            "2",
        ]

    def close(self) -> None:
        self.tsa.stop()


def start_log(workdir: Path, children: Children) -> DemoLog:
    """Keys, the witness process and the TSA; DemoError if one cannot start."""
    log_key = Ed25519PrivateKey.generate()
    save_private_key(log_key, workdir / "log.key", what="log key")
    log_vkey = NoteSigner(ORIGIN, log_key).verifier_key()
    witness_key = Ed25519PrivateKey.generate()
    save_private_key(witness_key, workdir / "witness.key", what="witness key")
    witness_vkey = CosignatureSigner(WITNESS_NAME, witness_key).verifier_key()
    port = free_port()
    witness_toml = workdir / "witness.toml"
    write_config(
        witness_toml,
        {
            "witness": {
                "name": WITNESS_NAME,
                "key": str(workdir / "witness.key"),
                "state": str(workdir / "witness.sqlite"),
                "listen": f"127.0.0.1:{port}",
            },
            "log": [{"origin": ORIGIN, "vkey": log_vkey}],
        },
    )
    witness = children.start(
        "witness", edgeseal_argv("witness", "--config", str(witness_toml)), ready_stderr="listening"
    )
    children.wait_ready(witness, "listening for checkpoints")
    # Its own temporary directory: openssl's configuration file cannot quote every path
    # a demo working directory may have.
    tsa = LocalTsa()
    try:
        tsa.start()
    except TsaError as exc:
        raise DemoError(f"cannot start the local time-stamping authority: {exc}") from None
    tsa_ca = workdir / "tsa-ca.pem"
    tsa_ca.write_bytes(tsa.ca_pem)
    section = {
        "enabled": True,
        "origin": ORIGIN,
        "key_path": str(workdir / "log.key"),
        "checkpoint_interval_s": CHECKPOINT_INTERVAL_S,
        "checkpoint_entries": 256,
        "witness_policy": 1,
        "witnesses": [{"url": f"http://127.0.0.1:{port}", "vkey": witness_vkey}],
        "anchors": {
            "tsa": {"url": tsa.url, "ca_certs": [str(tsa_ca)]},
            # In the verifier's process: anchored for real, forgotten when it stops.
            "evm": {"rpc_url": "embedded"},
        },
    }
    return DemoLog(section, log_vkey, witness_vkey, tsa_ca, tsa)
