"""What the verifier's processing thread needs of a bus, whichever it is (``[bus] kind``).

A bus hands the worker batches (``Inbound``, queued by its network thread) and takes
back, once their verdicts are committed, the verdicts to publish and the batches to
acknowledge (``BatchLink.settle``). The MQTT bus is paho's client (``PahoLink``);
the NATS JetStream bus is ``edgeseal.verifier.bus_nats.NatsBus``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class Inbound:
    """One batch message as the bus delivered it."""

    topic: str  # the MQTT topic it was published on: <prefix>/<gw>/batch
    payload: bytes
    received: float  # time.monotonic() when the bus handed it over
    # The bus's own handle to acknowledge it with (paho: (mid, qos); NATS: the message).
    handle: object


class BatchLink(Protocol):
    def settle(self, verdicts: Sequence[tuple[str, bytes]], delivered: Sequence[Inbound]) -> None:
        """Publish ``verdicts`` (topic, payload), then acknowledge ``delivered``.

        Called only after their verdicts are committed to the store.
        """

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish one message (a resend request)."""


@dataclass(frozen=True)
class PahoLink:
    """The MQTT bus: verdicts at QoS 1, PUBACKs held back until ``settle`` (manual_ack)."""

    client: mqtt.Client

    def settle(self, verdicts: Sequence[tuple[str, bytes]], delivered: Sequence[Inbound]) -> None:
        for topic, payload in verdicts:
            self.client.publish(topic, payload, qos=1)
        for message in delivered:
            mid, qos = _mqtt_handle(message.handle)
            self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)


def mqtt_inbound(message: mqtt.MQTTMessage, received: float) -> Inbound:
    return Inbound(message.topic, bytes(message.payload), received, (message.mid, message.qos))


def _mqtt_handle(handle: object) -> tuple[int, int]:
    if not (
        isinstance(handle, tuple) and len(handle) == 2 and all(isinstance(x, int) for x in handle)
    ):
        raise TypeError(f"not an MQTT message handle: {handle!r}")
    return handle[0], handle[1]
