"""The local TSA and the ganache node start, answer and stop cleanly."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeseal.anchor.evidence import check_evidence
from edgeseal.anchor.evm import EvmAnchor
from edgeseal.testing.evm_node import EvmNodeError, GanacheNode
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import Checkpoint

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_ganache_stops_with_its_whole_process_group() -> None:
    node = GanacheNode()
    node.start()
    process = node._process
    assert process is not None and _listening(node.port)
    node.stop()
    assert process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, signal.SIG_DFL)  # nothing left in the group
    assert not _listening(node.port)
    node.stop()  # a second stop is harmless


def test_a_missing_ganache_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EvmNodeError, match="npm ci"):
        GanacheNode(executable=tmp_path / "ganache").start()


def test_the_local_tsa_frees_its_port_and_directory() -> None:
    with LocalTsa() as tsa:
        port = int(tsa.url.rsplit(":", 1)[1].strip("/"))
        workdir = tsa.workdir
        assert workdir is not None and (workdir / "openssl.cnf").exists()
    assert not _listening(port)
    assert not workdir.exists()


def test_the_embedded_default_needs_no_node(make_checkpoint: MakeCheckpoint) -> None:
    anchor = EvmAnchor("embedded")
    assert anchor.embedded is not None
    checkpoint, note = make_checkpoint(1, origin="example.org/embedded-default")
    evidence = anchor.anchor(checkpoint, note)
    trust = anchor.embedded.trust()
    assert check_evidence(evidence, checkpoint, note, online=True, trust=trust) is None
