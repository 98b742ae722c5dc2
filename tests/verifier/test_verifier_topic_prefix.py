"""``mqtt.topic_prefix`` on both sides, with real processes (issue 11, item 6).

A simulated device on a pseudo-terminal -> `edgeseal agent` -> mosquitto ->
`edgeseal verifier`. With the same non-default prefix on the agent and the verifier
every reading the device got acknowledged is accepted, and nothing travels under the
default prefix. With different prefixes the verifier cannot see a single batch (it
does not subscribe where the agent publishes); `edgeseal verifier --report` then
names the enrolled gateway it never heard from, and exits 1 instead of 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import tomli_w
from verifier_mqtt import ROOT, ProcessWorker, VerdictListener, wait_until

from edgeseal.testing.broker import MosquittoBroker
from edgeseal.testing.devices import simulated_device
from edgeseal.verifier.store import VerifierStore
from edgeseal.wire.topics import DEFAULT_PREFIX, Topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import Subscriber, make_key, start_agent, write_config

GW = "gw-prefix"


def verifier_toml(path: Path, store: Path, port: int, key: bytes, prefix: str | None) -> Path:
    mqtt: dict[str, Any] = {"host": "127.0.0.1", "port": port, "session_expiry_s": 300}
    if prefix is not None:
        mqtt["topic_prefix"] = prefix
    config = {
        "mqtt": mqtt,
        "store": {"path": str(store), "synchronous": "normal"},
        "gateways": {GW: key.hex()},
    }
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


def run_device_and_agent(tmp_path: Path, port: int, agent_prefix: str) -> set[tuple[int, int, int]]:
    """One device, one agent run of ~2.5 s; the (device, boot, seq) the device got acked."""
    agent_log = tmp_path / "agent.log"
    with simulated_device(device_id=61, rate=150, link=tmp_path / "ttyDEV61") as dev:
        config = write_config(
            tmp_path / "agent.toml",
            gateway_id=GW,
            key_path=tmp_path / "gw.key",
            outbox_path=tmp_path / "outbox.sqlite",
            broker_port=port,
            ports=[dev.port],
            max_readings=40,
            max_delay_s=0.3,
            mqtt_extra=tomli_w.dumps({"topic_prefix": agent_prefix}),
        )
        agent = start_agent(config, agent_log)
        time.sleep(2.5)
        agent.send_signal(signal.SIGTERM)  # seals what it holds and waits for the PUBACKs
        assert agent.wait(30) == 0, agent_log.read_text()[-3000:]
        dev.stop()
    summary = dev.summary
    assert summary is not None
    acked = {
        (summary["device_id"], boot["boot_id"], seq)
        for boot in summary["boots"]
        for seq in range(1, boot["acked"] + 1)
    }
    assert len(acked) > 50, "the device produced too little to prove anything"
    return acked


def report(config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "edgeseal", "verifier", "--config", str(config), "--report"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_the_same_non_default_prefix_on_both_sides_accepts_every_reading(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    prefix = "plant-7/es"
    key = make_key(tmp_path / "gw.key")
    store_path = tmp_path / "verifier.sqlite"
    config = verifier_toml(
        tmp_path / "verifier.toml", store_path, mqtt_broker.port, key.public_key, prefix
    )
    listener = VerdictListener(mqtt_broker.port, Topics(prefix))
    default_listener = VerdictListener(
        mqtt_broker.port, Topics(DEFAULT_PREFIX), client_id="test-verdicts-default"
    )
    verifier = ProcessWorker(config, "verifier-prefix", tmp_path / "verifier.log")
    try:
        verifier.wait_subscribed()
        assert f"subscribed to $share/verifiers/{prefix}/+/batch" in verifier.log_text()
        with Subscriber("127.0.0.1", mqtt_broker.port, topic_prefix=DEFAULT_PREFIX) as default:
            acked = run_device_and_agent(tmp_path, mqtt_broker.port, prefix)
            with VerifierStore(store_path) as store:
                wait_until(lambda: acked <= store.reading_keys(GW), 60, "every acked reading")
                wait_until(lambda: store.gaps() == [], 30, "no held batches")
                accepted = store.accepted_batches(GW)
                assert [seq for _g, seq, _h in accepted] == list(range(1, len(accepted) + 1))
                assert store.quarantined() == []
            verdicts = listener.wait_for_verdicts("accepted", len(accepted))
            assert {v["gateway_id"] for v in verdicts} == {GW}
            assert default.snapshot() == [], "a batch travelled under the default prefix"
        assert default_listener.snapshot() == [], "a verdict travelled under the default prefix"
        done = report(config)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "enrolled gateways with no accepted batch" not in done.stdout, done.stdout
    finally:
        assert verifier.stop() == 0, verifier.log_text()[-3000:]
        listener.close()
        default_listener.close()


def test_different_prefixes_accept_nothing_and_the_report_says_so(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    key = make_key(tmp_path / "gw.key")
    store_path = tmp_path / "verifier.sqlite"
    config = verifier_toml(
        tmp_path / "verifier.toml", store_path, mqtt_broker.port, key.public_key, None
    )
    verifier = ProcessWorker(config, "verifier-default", tmp_path / "verifier.log")
    try:
        verifier.wait_subscribed()
        with Subscriber("127.0.0.1", mqtt_broker.port, topic_prefix="a/b") as elsewhere:
            acked = run_device_and_agent(tmp_path, mqtt_broker.port, "a/b")
            # The agent did publish (and got its PUBACKs: it exited 0) ...
            batches = elsewhere.wait_for(lambda got: len(got) > 0, 10)
            assert batches, "the agent published nothing under its prefix"
            assert acked, "the device got nothing acknowledged"
            time.sleep(1.0)  # as long again as a batch takes through the verifier
        # ... and none of it reached the verifier.
        with VerifierStore(store_path) as store:
            assert store.accepted_batches() == [] and store.reading_count() == 0
            assert store.quarantined() == [] and store.gaps() == []
        done = report(config)
        assert done.returncode == 1, done.stdout + done.stderr
        assert (
            f"  {GW}: NOTHING RECEIVED on edgeseal/v1/{GW}/batch; is the gateway running, "
            "on this broker, with mqtt.topic_prefix = 'edgeseal/v1' as here?"
        ) in done.stdout, done.stdout
    finally:
        assert verifier.stop() == 0, verifier.log_text()[-3000:]
