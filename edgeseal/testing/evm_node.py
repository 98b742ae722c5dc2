"""A real local EVM node over JSON-RPC: ganache from npm, on a free loopback port.

Test scaffolding: the anchor tests run the contract on this node as well as on the
in-process eth-tester chain, so the JSON-RPC path (gas estimation, revert reasons,
receipts, logs over HTTP) is exercised on a node nobody here wrote. ganache is pinned in
the repository's package.json and installed by ``npm ci`` (scripts/test) into
node_modules/, which is where this module looks for it.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from edgeseal.testing.processes import Harness, Startup, free_port, stop_process, wait_until_ready

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
GANACHE = REPO / "node_modules" / ".bin" / "ganache"
CHAIN_ID = 1337
# 1000 ether in wei: plenty for any number of anchors at the node's gas price.
_BALANCE = 1000 * 10**18


class EvmNodeError(RuntimeError):
    """The node is not installed, or did not answer JSON-RPC in time."""


def _rpc(url: str, method: str, timeout_s: float = 1.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        return json.loads(reply.read())["result"]


@dataclass
class GanacheNode(Harness):
    """``ganache`` on ``http://127.0.0.1:<port>``, instamining, with one funded account.

    The account's key is ``private_key`` (fresh per node); the node also unlocks it, so
    both a node-signed and a locally signed transaction work.
    """

    host: str = "127.0.0.1"
    port: int = 0
    chain_id: int = CHAIN_ID
    executable: Path = GANACHE
    start_timeout_s: float = 60.0
    private_key: str = field(default_factory=lambda: "0x" + secrets.token_hex(32))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self._process is not None:
            return
        if not self.executable.exists():
            raise EvmNodeError(
                f"{self.executable} not found: run `npm ci` in the repository (scripts/test does)"
            )
        if self.port == 0:
            self.port = free_port(self.host)
        command = [
            str(self.executable),
            "--server.host",
            self.host,
            "--server.port",
            str(self.port),
            "--chain.chainId",
            str(self.chain_id),
            "--chain.hardfork",
            "shanghai",
            "--wallet.accounts",
            f"{self.private_key},{hex(_BALANCE)}",
            "--logging.quiet",
        ]
        # Its own process group, so stop() also ends the node under npm's shim.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        process = self._process
        match wait_until_ready(process, self._answers, self.start_timeout_s, interval_s=0.1):
            case Startup.READY:
                log.info("ganache answering on %s", self.url)
            case Startup.EXITED:
                err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                self._process = None
                raise EvmNodeError(f"ganache exited while starting: {err.strip()}")
            case Startup.TIMED_OUT:
                self.stop()
                raise EvmNodeError(
                    f"ganache did not answer on {self.url} in {self.start_timeout_s} s"
                )

    def _answers(self) -> bool:
        try:
            return bool(_rpc(self.url, "eth_chainId") == hex(self.chain_id))
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        # The whole group: npm's shim starts node as its child, and signalling the shim
        # alone would leave the node running. Waiting after SIGKILL is bounded too.
        stop_process(process, 10, group=True, kill_timeout_s=10)

    def close(self) -> None:
        """The same as :meth:`stop` (the node keeps nothing on disk)."""
        self.stop()
