"""The hosts scaffolding itself (edgeseal.testing.netns): hosts reach each other only
through the switch, a cut link cuts, and what a run leaves behind is cleaned."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

from edgeseal.testing.netns import PREFIX, Network, _ip, _namespaces, clean_leftovers


def listen(address: str) -> tuple[socket.socket, int]:
    server = socket.create_server((address, 0))
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    return server, int(server.getsockname()[1])


def test_hosts_reach_each_other_on_the_switch_and_not_while_a_link_is_cut(
    network: Network,
) -> None:
    a, b = network.add_host("a"), network.add_host("b")
    assert (a.address, b.address) == ("10.77.0.1", "10.77.0.2")
    # The machine's own namespace has no address on the switch.
    assert (
        a.address
        not in subprocess.run(
            ["ip", "-4", "addr"], check=False, capture_output=True, text=True
        ).stdout
    )
    server, port = a.call(listen, a.address)
    try:
        with network.cut(b, seconds=0.0):
            assert not b.reaches(a.address, port, timeout=0.3)
        # Back within seconds (the neighbour entry that failed during the cut is probed again).
        deadline = time.monotonic() + 10
        while not b.reaches(a.address, port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert b.reaches(a.address, port)
        # A process started in a host is in that host's namespace.
        inside = b.run(["ip", "-4", "-o", "addr", "show", "eth0"], capture_output=True, text=True)
        assert f"{b.address}/24" in inside.stdout
    finally:
        server.close()


def test_namespaces_of_a_run_that_died_are_deleted_and_a_live_runs_are_kept() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = f"{PREFIX}{finished.pid:x}-left"
    alive = f"{PREFIX}{os.getpid():x}-mine"
    for name in (dead, alive):
        _ip("netns", "add", name)
    try:
        assert dead in clean_leftovers()
        assert dead not in _namespaces() and alive in _namespaces()
    finally:
        for name in (dead, alive):
            _ip("netns", "delete", name, check=False)


def test_closing_the_network_deletes_its_namespaces_and_kills_its_processes(
    network: Network,
) -> None:
    host = network.add_host("h")
    sleeper = host.popen(["sleep", "60"])
    names = [n for n in _namespaces() if n.startswith(network.run_id + "-")]
    assert len(names) == 2  # the switch and the host
    network.close()
    assert sleeper.poll() is not None
    assert not [n for n in _namespaces() if n.startswith(network.run_id + "-")]
