"""The committed ABI and bytecode are what the pinned solc makes of the committed source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgeseal.anchor.evm import EmbeddedChain, artifact

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "edgeseal" / "anchor" / "contracts"


def test_recompiling_gives_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compile-contract"), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["CheckpointAnchor.json", "CheckpointAnchor.metadata.json"]
    for name in written:
        assert (tmp_path / name).read_bytes() == (CONTRACTS / name).read_bytes(), (
            f"{name} differs from a fresh compile: run scripts/compile-contract and commit"
        )
    metadata = json.loads((CONTRACTS / "CheckpointAnchor.metadata.json").read_text())
    lock = json.loads((REPO / "package-lock.json").read_text())
    assert metadata["compiler"]["version"] == lock["packages"]["node_modules/solc"]["version"]


def test_the_chain_runs_the_committed_runtime_code(embedded_chain: EmbeddedChain) -> None:
    code = embedded_chain.w3.eth.get_code(embedded_chain.contract_address)
    assert "0x" + bytes(code).hex() == artifact()["deployedBytecode"]
