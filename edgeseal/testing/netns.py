"""Separate "hosts" on one machine: Linux network namespaces joined by a private switch.

Test scaffolding for the back end on several hosts (issue 15). Each host is a network
namespace with one interface, ``eth0``, holding one address of a private /24 (by default
10.77.0.0/24); the other end of its veth pair is a port of a bridge that lives in a
namespace of its own (the switch). Nothing is added to the machine's own namespace:
no interface, no address, no route, no firewall rule, and the switch's namespace has
no netfilter rules of its own, so bridged traffic is not filtered by the machine's.

    with Network() as net:
        db, broker = net.add_host("db"), net.add_host("broker")
        proc = broker.popen(["mosquitto", "-c", "m.conf"])  # runs inside "broker"
        server = db.call(start_server)    # a function whose sockets and children live in "db"
        with net.cut(db, seconds=3):      # db's cable is pulled, then plugged back in
            ...

Making namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ``ip``;
:func:`unavailable_reason` says why they cannot be made here, or None.

Every name carries the run's id (``esn<pid in hex>-``), so runs side by side do not
meet, and a run that died without cleaning up is cleaned by the next one
(:func:`clean_leftovers`, called by :class:`Network`): its namespaces are deleted once
the process that made them is gone, and the processes still inside them are killed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgeseal.testing.processes import Closing, find_executable, kill_process

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFIX = "esn"
_RUN_NAME = re.compile(rf"^{PREFIX}([0-9a-f]+)-")
_NETNS_DIR = Path("/run/netns")
_CLONE_NEWNET = 0x40000000
# Debian keeps ip in /usr/sbin, which is not on every user's PATH.
_IP_LOCATIONS = ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip")


class NetnsError(RuntimeError):
    """A namespace, link or address could not be made or changed."""


def find_ip() -> str | None:
    return find_executable("ip", _IP_LOCATIONS)


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made on this machine, or None when they can."""
    if find_ip() is None:
        return "iproute2's 'ip' is not installed (apt-get install iproute2; scripts/test does)"
    if os.geteuid() != 0:
        return (
            "making network namespaces needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); "
            f"this runs as uid {os.geteuid()} (CI runs the suite as root)"
        )
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    ip = find_ip()
    if ip is None:
        raise NetnsError("iproute2's 'ip' is not installed")
    done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise NetnsError(f"'ip {' '.join(args)}' failed: {done.stderr.strip() or done.stdout}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def _delete_namespace(name: str) -> None:
    """Kill what still runs inside ``name``, then delete it (its links go with it)."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "delete", name, check=False)


def clean_leftovers() -> list[str]:
    """Delete the namespaces of earlier runs whose process is gone; returns their names."""
    cleaned = []
    for name in _namespaces():
        match = _RUN_NAME.match(name)
        if match is None or _pid_alive(int(match.group(1), 16)):
            continue
        _delete_namespace(name)
        cleaned.append(name)
    if cleaned:
        log.info("deleted %d network namespaces left by earlier runs", len(cleaned))
    return cleaned


_libc: ctypes.CDLL | None = None


def _setns(path: Path) -> None:
    """Move the calling thread (only it) into the network namespace at ``path``."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetnsError(f"cannot enter network namespace {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Host:
    """One namespace: its name, its address on the switch and its port on the switch."""

    name: str
    netns: str
    address: str
    port: str
    """The switch's port this host is cabled to (its end of the veth pair)."""
    network: Network = field(repr=False)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host (``ip netns exec`` execs it: same pid)."""
        ip = find_ip()
        assert ip is not None
        return [ip, "netns", "exec", self.netns, *argv]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside this host; it is killed when the network closes."""
        process: subprocess.Popen[Any] = subprocess.Popen(self.command(argv), **kwargs)
        self.network.processes.append(process)
        return process

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(self.command(argv), check=False, **kwargs)

    def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` in a thread inside this host, and its result.

        The sockets it opens stay in this host (and keep working from any thread), and
        the processes it starts run in this host: a server's own starter (such as
        ``MosquittoBroker.start``) starts the server here unchanged.
        """
        outcome: list[Any] = []
        failure: list[BaseException] = []

        def inside() -> None:
            try:
                _setns(_NETNS_DIR / self.netns)
                outcome.append(function(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=inside, name=f"netns-{self.name}", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return outcome[0]  # type: ignore[no-any-return]

    def reaches(self, address: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a TCP connection from this host to ``address:port`` is accepted."""
        import socket

        def attempt() -> bool:
            try:
                with socket.create_connection((address, port), timeout=timeout):
                    return True
            except OSError:
                return False

        return self.call(attempt)


@dataclass
class Network(Closing):
    """Hosts on one switch; everything made is removed by :meth:`close` (or on exit)."""

    subnet: str = "10.77.0"
    """The first three octets of the /24 the hosts' addresses are taken from."""
    run_id: str = field(default_factory=lambda: f"{PREFIX}{os.getpid():x}")
    hosts: list[Host] = field(default_factory=list)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list, repr=False)
    _switch: str = field(default="", init=False)
    _made: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise NetnsError(f"network namespaces cannot be made here: {reason}")
        if not re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})", self.subnet):
            raise ValueError(f"subnet {self.subnet!r}: give three octets, such as '10.77.0'")
        clean_leftovers()
        # This run's own names, should an earlier process with our pid have left them.
        for name in _namespaces():
            if name.startswith(self.run_id + "-"):
                _delete_namespace(name)
        try:
            self._switch = self._namespace("switch")
            _ip("-n", self._switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self._switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def _namespace(self, label: str) -> str:
        name = f"{self.run_id}-{label}"
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")
        return name

    def add_host(self, label: str) -> Host:
        """A new host cabled to the switch, with the next address of the subnet."""
        if not re.fullmatch(r"[a-z0-9]{1,20}", label):
            raise ValueError(f"host label {label!r}: 1 to 20 of a-z 0-9")
        index = len(self.hosts) + 1
        if index > 250:
            raise NetnsError("at most 250 hosts on one /24")
        netns = self._namespace(label)
        port = f"p{index}"
        veth = ("link", "add", "eth0", "netns", netns, "type", "veth")
        _ip(*veth, "peer", "name", port, "netns", self._switch)
        _ip("-n", self._switch, "link", "set", port, "master", "br0")
        _ip("-n", self._switch, "link", "set", port, "up")
        address = f"{self.subnet}.{index}"
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        host = Host(label, netns, address, port, self)
        self.hosts.append(host)
        return host

    def unplug(self, host: Host) -> None:
        """Pull ``host``'s cable: its switch port goes down (open TCP connections stay
        open on both sides and stall until :meth:`plug`)."""
        _ip("-n", self._switch, "link", "set", host.port, "down")
        log.info("cut the link of host %s", host.name)

    def plug(self, host: Host) -> None:
        _ip("-n", self._switch, "link", "set", host.port, "up")
        log.info("restored the link of host %s", host.name)

    @contextmanager
    def cut(self, host: Host, seconds: float) -> Iterator[None]:
        """``host`` is off the network for ``seconds``, then back on (even if the body fails);
        the body runs while it is off."""
        self.unplug(host)
        started = time.monotonic()
        try:
            yield
            remaining = seconds - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
        finally:
            self.plug(host)

    def close(self) -> None:
        """Kill the processes started in the hosts, delete every namespace made."""
        for process in self.processes:
            kill_process(process, 10)
        for name in reversed(self._made):
            _delete_namespace(name)
        self._made.clear()
        self.hosts.clear()
