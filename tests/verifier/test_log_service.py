"""The log inside a running verifier worker on a real mosquitto: checkpoints are issued
as batches arrive and published retained on <prefix>/log/checkpoint, where a client that
subscribes later still finds the newest one."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_helpers import ORIGIN, log_config
from verifier_builders import GatewayChain, batch_topic, verifier_config
from verifier_mqtt import Publisher, ThreadWorker, wait_until

from edgeseal import native
from edgeseal.plumbing.keyfile import save_private_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.tlog.checkpoint import open_checkpoint
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.tlog.note import NoteSigner, NoteVerifier
from edgeseal.verifier.config import ConfigError, load_config
from edgeseal.verifier.log_service import checkpoint_topic


def _retained(port: int, topic: str) -> bytes | None:
    """The retained message of ``topic``, None if there is none (yet)."""
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="late-reader")
    client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain:
            got.append(bytes(msg.payload))
            done.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        done.wait(2)
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0] if got else None


def test_a_worker_issues_and_publishes_retained_checkpoints(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    save_private_key(key, tmp_path / "log.key", what="log key")
    gw = GatewayChain()
    config = verifier_config(
        tmp_path / "v.sqlite", {"gw-1": gw.enrolled_key}, port=mqtt_broker.port
    )
    config = replace(
        config,
        log=replace(log_config(entries=5, interval_s=0.2), key_path=tmp_path / "log.key"),
    )
    worker = ThreadWorker(config)
    pub = Publisher(mqtt_broker.port)
    batches = gw.batches(12, n=2)
    try:
        for b in batches:
            pub.publish(batch_topic("gw-1"), b.to_payload())
        verifier = NoteVerifier.from_vkey(NoteSigner(ORIGIN, key).verifier_key())
        topic = checkpoint_topic(config.mqtt.topic_prefix)

        def newest() -> bytes | None:
            note = _retained(mqtt_broker.port, topic)
            if note is None or open_checkpoint(note, verifier)[0].size < 12:
                return None
            return note

        wait_until(lambda: newest() is not None, 30, "a retained checkpoint of all 12 batches")
        note = newest()
        assert note is not None
        checkpoint, _ = open_checkpoint(note, verifier)
        entries = [b.header_bytes + b.header_signature for b in batches]
        assert checkpoint.root_hash == native.merkle_root(entries)
    finally:
        pub.close()
        assert worker.stop() == 0


def test_the_log_section_of_a_config_file(tmp_path: Path) -> None:
    save_private_key(Ed25519PrivateKey.generate(), tmp_path / "log.key", what="log key")
    witness = "w1+" + "00" * 4 + "+BA" + "A" * 42 + "="
    (tmp_path / "v.toml").write_text(
        "[log]\nenabled = true\n"
        f'origin = "{ORIGIN}"\nkey_path = "log.key"\ncheckpoint_entries = 64\n'
        "[[log.witnesses]]\n"
        f'url = "http://127.0.0.1:1"\nvkey = "{witness}"\n'
    )
    # The made-up key id does not match the key: refused, naming the key.
    with pytest.raises(ConfigError, match=r"log\.witnesses\[0\]\.vkey"):
        load_config(tmp_path / "v.toml")
    good = CosignatureSigner("w1", Ed25519PrivateKey.generate()).verifier_key()
    text = (tmp_path / "v.toml").read_text().replace(witness, good)
    (tmp_path / "v.toml").write_text(text)
    log = load_config(tmp_path / "v.toml").log
    assert (log.enabled, log.origin, log.checkpoint_entries, log.witness_policy) == (
        True,
        ORIGIN,
        64,
        1,
    )
    assert log.key_path == tmp_path / "log.key" and log.witnesses[0].vkey == good
