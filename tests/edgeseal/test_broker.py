"""The private broker the suite and the demo rely on: it really carries MQTT traffic."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from edgeseal.broker import BrokerError, MosquittoBroker


def _roundtrip(broker: MosquittoBroker, payload: bytes) -> bytes:
    got: list[bytes] = []
    ready = threading.Event()
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *a: ready.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        done.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe("t/roundtrip", qos=1)
        assert ready.wait(5), "no SUBACK from the broker"
        client.publish("t/roundtrip", payload, qos=1).wait_for_publish(5)
        assert done.wait(5), "message did not come back through the broker"
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0]


def test_broker_carries_messages_and_survives_restart(mqtt_broker: MosquittoBroker) -> None:
    assert _roundtrip(mqtt_broker, b"first") == b"first"
    port = mqtt_broker.port
    mqtt_broker.stop()
    assert not mqtt_broker.running
    mqtt_broker.start()
    assert mqtt_broker.port == port
    assert _roundtrip(mqtt_broker, b"second") == b"second"


def test_missing_executable_is_a_clear_error(tmp_path) -> None:
    broker = MosquittoBroker(workdir=tmp_path, executable=None)
    broker.executable = None
    with pytest.raises(BrokerError, match="apt-get install mosquitto"):
        broker.start()
