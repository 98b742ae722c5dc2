"""The private broker the suite and the demo rely on: it really carries MQTT traffic."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from edgeseal.testing.broker import BrokerError, MosquittoBroker


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


def test_persistent_broker_keeps_queued_messages_across_restart(tmp_path) -> None:
    """A QoS 1 message queued for an offline persistent session survives a broker restart."""
    # Without "user root" mosquitto (as root) cannot save its store and this fails.
    with MosquittoBroker(workdir=tmp_path, persistent=True) as broker:
        sub = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="keeper", protocol=mqtt.MQTTv5
        )
        props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        subscribed = threading.Event()
        sub.on_subscribe = lambda *a: subscribed.set()
        sub.connect(broker.host, broker.port, clean_start=False, properties=props)
        sub.loop_start()
        sub.subscribe("t/kept", qos=1)
        assert subscribed.wait(5)
        sub.disconnect()
        sub.loop_stop()

        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        pub.publish("t/kept", b"while-away", qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()

        broker.stop()
        broker.start()

        got = threading.Event()
        payloads: list[bytes] = []

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            payloads.append(msg.payload)
            got.set()

        sub.on_message = on_message
        sub.connect(broker.host, broker.port, clean_start=False, properties=props)
        sub.loop_start()
        try:
            assert got.wait(5), "queued message lost across the broker restart"
        finally:
            sub.loop_stop()
            sub.disconnect()
        assert payloads == [b"while-away"]
