"""End-to-end acknowledgement on real processes (issue 11 items 1 and 2).

Simulated devices on pseudo-terminals -> `edgeseal agent` -> mosquitto -> `edgeseal
verifier`, with the verifier's signing key configured on both sides. In each case the
broker takes batches nobody receives (PUBACK "no matching subscribers", or a broker
that forgets its sessions); before end-to-end acknowledgement the agent forgot them on
PUBACK and they were lost. Now: every reading a device got ACKed is accepted exactly
once, and the agent's outbox ends empty (it forgot each batch only on a signed verdict).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from verifier_builders import config_toml
from verifier_mqtt import ProcessWorker, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device
from edgeseal.verifier.store import VerifierStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import make_key, persistent_broker, start_agent, write_config

GW = "gw-ack"


class Setup:
    """Key files and configs for one agent, one verifier and one device on ``port``."""

    def __init__(self, tmp_path: Path, port: int, *, session_expiry_s: int = 300) -> None:
        self.tmp = tmp_path
        self.gateway = make_key(tmp_path / "gateway.key")
        self.verifier_key = make_key(tmp_path / "verifier.key")
        self.store_path = tmp_path / "verifier.sqlite"
        self.outbox_path = tmp_path / "outbox.sqlite"
        self.verifier_toml = tmp_path / "verifier.toml"
        text = config_toml(self.store_path, {GW: self.gateway.public_key}, port=port)
        text = text.replace("session_expiry_s = 300", f"session_expiry_s = {session_expiry_s}")
        self.verifier_toml.write_text(
            text + f'\n[verifier]\nkey_path = "{tmp_path / "verifier.key"}"\nresend_after_s = 1.0\n'
            "resend_max_s = 4.0\n"
        )
        self.port = port
        self.verifiers = 0

    def agent_config(self, device_port: str) -> Path:
        return write_config(
            self.tmp / "agent.toml",
            gateway_id=GW,
            key_path=self.tmp / "gateway.key",
            outbox_path=self.outbox_path,
            broker_port=self.port,
            ports=[device_port],
            max_readings=30,
            max_delay_s=0.2,
            extra=(
                f'[verifier]\npublic_key = "{self.verifier_key.public_key.hex()}"\n'
                "republish_min_s = 0.5\nrepublish_max_s = 2.0\nsession_expiry_s = 300\n"
            ),
        )

    def start_verifier(self) -> ProcessWorker:
        self.verifiers += 1
        return ProcessWorker(
            self.verifier_toml, "verifier-ack", self.tmp / f"verifier-{self.verifiers}.log"
        )

    def outbox_batches(self) -> int:
        with sqlite3.connect(self.outbox_path) as db:
            return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])


def run_case(
    tmp_path: Path,
    broker: MosquittoBroker,
    disturb: Callable[[Setup, list[ProcessWorker]], None],
    *,
    verifier_first: bool = True,
    session_expiry_s: int = 300,
) -> None:
    """Stream readings for a while, ``disturb`` the delivery, then check nothing was lost.

    ``disturb`` gets the setup and the list of running verifiers (it may replace them).
    """
    setup = Setup(tmp_path, broker.port, session_expiry_s=session_expiry_s)
    verifiers: list[ProcessWorker] = []
    if verifier_first:
        verifiers.append(setup.start_verifier())
        verifiers[0].wait_subscribed()
    agent_log = tmp_path / "agent.log"
    agent: subprocess.Popen[bytes] | None = None
    try:
        with simulated_device(device_id=71, rate=100, link=tmp_path / "ttyDEV71") as dev:
            agent = start_agent(setup.agent_config(dev.port), agent_log)
            disturb(setup, verifiers)
            time.sleep(1.0)
            dev.stop()
        acked = dev.acked_keys()
        assert len(acked) > 100, "the device produced too little to prove anything"
        with VerifierStore(setup.store_path) as store:
            wait_until(
                lambda: acked <= store.reading_keys(GW),
                25,
                f"every acknowledged reading accepted (agent log: {agent_log})",
            )
            wait_until(lambda: store.gaps() == [], 10, "no held batches")
            accepted = store.accepted_batches(GW)
            assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
            assert store.reading_count(GW) == len(store.reading_keys(GW)), "a reading twice"
            assert store.quarantined() == []
        # Everything acknowledged by the verifier, so the agent has forgotten it all.
        wait_until(lambda: setup.outbox_batches() == 0, 10, "the agent's outbox to empty")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0, agent_log.read_text()[-3000:]
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        for v in verifiers:
            if v.process.poll() is None:
                v.stop()


def test_verifier_starting_after_the_agent_loses_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    def late_verifier(setup: Setup, verifiers: list[ProcessWorker]) -> None:
        time.sleep(10.0)  # as in issue 11; the broker answers "no matching subscribers" meanwhile
        verifiers.append(setup.start_verifier())
        verifiers[-1].wait_subscribed()

    run_case(tmp_path, mqtt_broker, late_verifier, verifier_first=False)


def test_broker_restart_while_the_verifier_is_offline_loses_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    def restart_broker_without_verifier(setup: Setup, verifiers: list[ProcessWorker]) -> None:
        time.sleep(1.5)
        assert verifiers.pop().stop() == 0
        time.sleep(1.0)  # batches queue in the verifier's session...
        mqtt_broker.stop()  # ...which this broker (no persistence) forgets
        mqtt_broker.start()
        time.sleep(2.0)
        verifiers.append(setup.start_verifier())
        verifiers[-1].wait_subscribed()

    run_case(tmp_path, mqtt_broker, restart_broker_without_verifier)


def test_verifier_down_past_its_session_expiry_loses_nothing(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    def verifier_away_too_long(setup: Setup, verifiers: list[ProcessWorker]) -> None:
        time.sleep(1.5)
        assert verifiers.pop().stop() == 0
        time.sleep(4.0)  # the session (2 s) expires: later batches have no subscriber
        verifiers.append(setup.start_verifier())
        verifiers[-1].wait_subscribed()

    run_case(tmp_path, mqtt_broker, verifier_away_too_long, session_expiry_s=2)


def test_broker_sigkill_mid_stream_with_persistence_loses_nothing(tmp_path: Path) -> None:
    with persistent_broker() as broker:

        def kill_broker(_setup: Setup, _verifiers: list[ProcessWorker]) -> None:
            time.sleep(2.0)
            broker.kill()
            time.sleep(1.0)
            broker.start()
            time.sleep(2.0)

        run_case(tmp_path, broker, kill_broker)
