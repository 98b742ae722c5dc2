"""The whole chain for real: simulated devices on pseudo-terminals -> `edgeseal agent`
-> mosquitto -> `edgeseal verifier`. Every reading a device got acknowledged is
accepted exactly once, across a key rotation done by the agent."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

from verifier_builders import config_toml
from verifier_mqtt import ProcessWorker, VerdictListener, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device
from edgeseal.verifier.store import VerifierStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import make_key, start_agent, write_config

GW = "gw-e2e"


def run_agent(config: Path, log: Path, seconds: float) -> int:
    agent = start_agent(config, log)
    time.sleep(seconds)
    agent.send_signal(signal.SIGTERM)  # the agent seals what it holds and waits for PUBACKs
    return agent.wait(30)


def test_devices_agent_broker_verifier_every_acknowledged_reading_accepted_once(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    old = make_key(tmp_path / "old.key")
    new = make_key(tmp_path / "new.key")
    store_path = tmp_path / "verifier.sqlite"
    verifier_toml = tmp_path / "verifier.toml"
    verifier_toml.write_text(config_toml(store_path, {GW: old.public_key}, port=mqtt_broker.port))
    listener = VerdictListener(mqtt_broker.port)
    verifier = ProcessWorker(verifier_toml, "verifier-e2e", tmp_path / "verifier.log")
    agent_log = tmp_path / "agent.log"
    common = {
        "gateway_id": GW,
        "outbox_path": tmp_path / "outbox.sqlite",
        "broker_port": mqtt_broker.port,
        "max_readings": 40,
        "max_delay_s": 0.3,
    }
    try:
        verifier.wait_subscribed()
        with (
            simulated_device(device_id=51, rate=150, link=tmp_path / "ttyDEV51") as dev1,
            simulated_device(device_id=52, rate=150, link=tmp_path / "ttyDEV52") as dev2,
        ):
            ports = [dev1.port, dev2.port]
            # 1: the enrolled key; 2: the agent announces the new key and switches; 3: new key only.
            phases = [
                write_config(
                    tmp_path / "a.toml", key_path=tmp_path / "old.key", ports=ports, **common
                ),
                write_config(
                    tmp_path / "b.toml",
                    key_path=tmp_path / "old.key",
                    next_key_path=tmp_path / "new.key",
                    ports=ports,
                    **common,
                ),
                write_config(
                    tmp_path / "c.toml", key_path=tmp_path / "new.key", ports=ports, **common
                ),
            ]
            for cfg in phases:
                assert run_agent(cfg, agent_log, 2.0) == 0, agent_log.read_text()[-3000:]
            dev1.stop()
            dev2.stop()
        acked = dev1.acked_keys() | dev2.acked_keys()
        assert len(acked) > 100, "the devices produced too little to prove anything"
        with VerifierStore(store_path) as store:
            wait_until(lambda: acked <= store.reading_keys(GW), 60, "every acknowledged reading")
            # Let in-flight batches settle, then compare the chain with the verdicts.
            wait_until(lambda: store.gaps() == [], 30, "no held batches")
            accepted = store.accepted_batches(GW)
            assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
            assert store.quarantined() == []
            assert (
                store.chain_state(GW, old.public_key).public_key == new.public_key
            )  # rotation followed
        verdicts = listener.wait_for_verdicts(
            "accepted", len(accepted)
        )  # duplicates may come first
        assert {v["verdict"] for v in verdicts} <= {"accepted", "duplicate"}
        assert sum(v["verdict"] == "accepted" for v in verdicts) == len(accepted)
        assert any("key rotation" in v["detail"] for v in verdicts)
    finally:
        assert verifier.stop() == 0, verifier.log_text()[-3000:]
        listener.close()
