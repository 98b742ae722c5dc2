"""Run a private NATS JetStream cluster on free loopback ports (test scaffolding).

Each node is a ``nats-server`` process (Debian's package, 2.9 or later) with
JetStream, a cluster route to every other node, an MQTT listener (gateways publish
there with paho-mqtt, MQTT 3.1.1: nats-server 2.9 speaks no MQTT 5) and the HTTP
monitoring port, which is how we learn who leads. A node can be killed with SIGKILL
and started again on the same ports and store directory, as a crashed machine
coming back would be.

nats-server's MQTT support needs a unique ``server_name`` per node and JetStream in
the account; its own session and message streams are replicated ``mqtt_replicas``
ways (``mqtt.stream_replicas``), so MQTT sessions survive the loss of a node too.

Optionally the client port speaks TLS only (``pki``: the server certificate of
``make_pki``, and with ``verify_clients`` a client certificate of its CA is required)
and clients must log in (``users`` with passwords, or one ``token``). The MQTT listener
stays plain TCP for the gateways; with ``users``, an MQTT client that gives no
credentials is taken as the user ``mqtt_no_auth_user`` (nats-server's
``mqtt.no_auth_user``; default: the first user), so agents configured without
credentials keep working. A token has no user to name there: MQTT clients then give
the token as their password (with any user name), as nats-server wants.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseal.testing.processes import (
    Harness,
    Startup,
    find_executable,
    free_port,
    kill_process,
    spawn_logged,
    stop_process,
    wait_until_ready,
)
from edgeseal.testing.secure_broker import Pki

log = logging.getLogger(__name__)

_EXTRA_LOCATIONS = ("/usr/sbin/nats-server", "/usr/local/bin/nats-server")


class NatsClusterError(RuntimeError):
    """nats-server could not be found, did not start, or the cluster elected no leader."""


def find_nats_server() -> str | None:
    return find_executable("nats-server", _EXTRA_LOCATIONS)


def _quote(text: str) -> str:
    """A nats-server configuration string (its syntax takes JSON strings)."""
    return json.dumps(text)


@dataclass
class NatsNode:
    """One server of the cluster: its ports, its store and its process."""

    name: str
    host: str
    client_port: int
    cluster_port: int
    mqtt_port: int
    http_port: int
    workdir: Path
    # "tls" when the client port speaks TLS only.
    scheme: str = "nats"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.client_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    def monitor(self, path: str, timeout: float = 1.0) -> dict[str, Any]:
        """A JSON document of the node's monitoring endpoint (``/jsz``, ``/varz``...)."""
        url = f"http://{self.host}:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document: dict[str, Any] = json.loads(response.read())
        return document

    def serves(self) -> bool:
        """Whether the monitoring endpoint answers (the server is up)."""
        try:
            self.monitor("/varz", timeout=0.5)
        except (OSError, ValueError):
            return False
        return True

    def tail_log(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class NatsCluster(Harness):
    """``size`` nats-server nodes routed to each other, each with JetStream and MQTT."""

    size: int = 3
    host: str = "127.0.0.1"
    name: str = "edgeseal"
    # Replicas of nats-server's own MQTT streams (sessions, QoS 1 messages, retained).
    mqtt_replicas: int | None = None
    workdir: Path | None = None
    executable: str | None = None
    # TLS on the client port with pki's server certificate; verify_clients: a client
    # certificate signed by pki's CA is required too.
    pki: Pki | None = None
    verify_clients: bool = False
    # Clients log in: as one of users (name -> password), or with token; not both.
    users: Mapping[str, str] | None = None
    token: str | None = field(default=None, repr=False)
    # With users: the user an MQTT client that gives no credentials is (default: the first).
    mqtt_no_auth_user: str | None = None
    nodes: list[NatsNode] = field(default_factory=list, init=False)
    _own_workdir: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a cluster needs at least one node")
        if self.mqtt_replicas is None:
            self.mqtt_replicas = min(self.size, 3)
        if self.users is not None and self.token is not None:
            raise ValueError("nats-server takes users or a token, not both")
        if self.verify_clients and self.pki is None:
            raise ValueError("verify_clients needs a pki (TLS)")
        if self.users:
            if self.mqtt_no_auth_user is None:
                self.mqtt_no_auth_user = next(iter(self.users))
            if self.mqtt_no_auth_user not in self.users:
                raise ValueError(f"mqtt_no_auth_user {self.mqtt_no_auth_user!r} is not a user")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="edgeseal-nats-"))
            self._own_workdir = True
        if self.executable is None:
            self.executable = find_nats_server()
        self.nodes = [
            NatsNode(
                name=f"n{i + 1}",
                host=self.host,
                client_port=free_port(self.host),
                cluster_port=free_port(self.host),
                mqtt_port=free_port(self.host),
                http_port=free_port(self.host),
                workdir=self.workdir / f"n{i + 1}",
                scheme="tls" if self.pki is not None else "nats",
            )
            for i in range(self.size)
        ]

    # -- addresses --------------------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        """Every node's client URL, for a NATS client's server list."""
        return [node.url for node in self.nodes]

    @property
    def mqtt_credentials(self) -> tuple[str, str] | None:
        """(user name, password) an MQTT client must give, or None when none are needed."""
        if self.token is not None:
            return ("edgeseal", self.token)  # nats-server reads the password as the token
        return None

    def node(self, name: str) -> NatsNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in the cluster ({[n.name for n in self.nodes]})")

    # -- configuration -----------------------------------------------------------------

    def _write_config(self, node: NatsNode) -> Path:
        node.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"server_name: {_quote(node.name)}",
            f"listen: {_quote(f'{node.host}:{node.client_port}')}",
            f"http: {_quote(f'{node.host}:{node.http_port}')}",
            # nats-server refuses messages over 1 MiB by default; big batches need more.
            "max_payload: 8MB",
            "jetstream {",
            f"  store_dir: {_quote(str(node.workdir / 'jetstream'))}",
            "  max_memory_store: 64MB",
            "  max_file_store: 2GB",
            "}",
            "mqtt {",
            f"  listen: {_quote(f'{node.host}:{node.mqtt_port}')}",
            f"  stream_replicas: {self.mqtt_replicas}",
        ]
        if self.users:
            # nats-server asks MQTT clients for credentials too once users are set.
            lines.append(f"  no_auth_user: {_quote(str(self.mqtt_no_auth_user))}")
        lines.append("}")
        lines += self._security_config()
        if self.size > 1:
            routes = ", ".join(
                _quote(f"nats-route://{other.host}:{other.cluster_port}")
                for other in self.nodes
                if other is not node
            )
            lines += [
                "cluster {",
                f"  name: {_quote(self.name)}",
                f"  listen: {_quote(f'{node.host}:{node.cluster_port}')}",
                f"  routes: [{routes}]",
                "}",
            ]
        conf = node.workdir / "nats-server.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    def _security_config(self) -> list[str]:
        lines: list[str] = []
        if self.pki is not None:
            lines += [
                "tls {",
                f"  cert_file: {_quote(str(self.pki.server_cert))}",
                f"  key_file: {_quote(str(self.pki.server_key))}",
                f"  ca_file: {_quote(str(self.pki.ca))}",
                f"  verify: {'true' if self.verify_clients else 'false'}",
                "  timeout: 5",
                "}",
            ]
        if self.users:
            users = ", ".join(
                f"{{user: {_quote(name)}, password: {_quote(password)}}}"
                for name, password in self.users.items()
            )
            lines += ["authorization {", f"  users: [{users}]", "}"]
        elif self.token is not None:
            lines += ["authorization {", f"  token: {_quote(self.token)}", "}"]
        return lines

    # -- lifecycle --------------------------------------------------------------------

    def start_node(self, node: NatsNode, timeout: float = 10.0) -> None:
        """Start (or restart) one node on its ports and store; waits until it serves."""
        if node.running:
            return
        if self.executable is None:
            raise NatsClusterError(
                "nats-server is not installed (looked on PATH and in /usr/sbin); "
                "install it with 'apt-get install nats-server'"
            )
        conf = self._write_config(node)
        process = node._process = spawn_logged([self.executable, "-c", str(conf)], node.log_path)
        match wait_until_ready(process, node.serves, timeout):
            case Startup.READY:
                pass
            case Startup.EXITED:
                raise NatsClusterError(
                    f"nats-server {node.name} exited with status {process.returncode}; "
                    f"its log: {node.tail_log()}"
                )
            case Startup.TIMED_OUT:
                # Unlike the other harnesses the slow node is left running: it is still
                # the cluster's node, so stop() and close() end it with the others.
                raise NatsClusterError(f"nats-server {node.name} did not serve within {timeout} s")

    def start(self, timeout: float = 30.0) -> None:
        """Start every node and wait until JetStream has a meta leader."""
        for node in self.nodes:
            self.start_node(node)
        self.wait_for_meta_leader(timeout)

    def _running_names(self) -> set[str]:
        return {node.name for node in self.nodes if node.running}

    def meta_leader(self) -> str | None:
        """The JetStream meta leader a running node reports, or None.

        A leader that is not running does not count: after a kill the others go on
        naming it until they hold an election.
        """
        running = self._running_names()
        for node in self.nodes:
            if not node.running:
                continue
            try:
                jsz = node.monitor("/jsz")
            except (OSError, ValueError):
                continue
            leader = (jsz.get("meta_cluster") or {}).get("leader") if self.size > 1 else node.name
            if leader in running:
                return str(leader)
        return None

    def wait_for_meta_leader(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.meta_leader()
            if leader is not None:
                return leader
            time.sleep(0.1)
        logs = "\n".join(f"--- {n.name}:\n{n.tail_log(800)}" for n in self.nodes)
        raise NatsClusterError(
            f"the cluster elected no JetStream meta leader in {timeout} s\n{logs}"
        )

    def stream_leader(self, stream: str, account: str = "$G") -> str | None:
        """The running node that leads ``stream`` (of ``account``), as the others report it."""
        running = self._running_names()
        for node in self.nodes:
            if not node.running:
                continue
            try:
                jsz = node.monitor(f"/jsz?acc={account}&streams=true")
            except (OSError, ValueError):
                continue
            for detail in jsz.get("account_details") or []:
                for info in detail.get("stream_detail") or []:
                    if info.get("name") == stream:
                        leader = (info.get("cluster") or {}).get("leader")
                        if leader in running:
                            return str(leader)
        return None

    def kill(self, node: NatsNode) -> None:
        """SIGKILL one node, as a crashed machine: nothing is flushed."""
        process = node._process
        if process is None:
            return
        kill_process(process)
        node._process = None
        log.info("nats-server %s killed", node.name)

    def stop_node(self, node: NatsNode, timeout: float = 10.0) -> None:
        process = node._process
        if process is None:
            return
        stop_process(process, timeout)
        node._process = None

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_node(node)

    def close(self) -> None:
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
