"""MQTT publishing with paho-mqtt 2.x: batches at QoS 1 in seq order, retained status, Last Will.

paho's network thread owns the socket; this class is driven from the pipeline's
thread. PUBACKs come back through ``on_publish`` as message ids and are handed
to the pipeline by ``poll()``. With end-to-end acknowledgement (``[verifier]
public_key``) the agent also subscribes, QoS 1 in a persistent session, to its own
verdict and resend topics; those messages are handed over by ``poll()`` too, and
only a signed verdict lets the pipeline forget a batch. In legacy mode the
pipeline forgets a batch on its PUBACK.
Only ``max_inflight`` batches are handed to paho at a time, so a long broker
outage grows the outbox on disk, not the agent's memory. paho keeps the batches
it holds across reconnects and resends them in order (with the DUP flag).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgeseal.agent.config import MqttConfig, VerifierLinkConfig
from edgeseal.agent.outbox import StoredBatch
from edgeseal.plumbing.mqtt_settings import configure_client, describe_refusal

log = logging.getLogger(__name__)


# MQTT 5 PUBACK reason 0x10: the broker took the message but nobody subscribes to it.
NO_MATCHING_SUBSCRIBERS = 0x10


@dataclass(frozen=True)
class PublishResult:
    acked: tuple[int, ...]  # batch seqs the broker accepted
    rejected: tuple[int, ...]  # batch seqs the broker refused (MQTT 5 reason code >= 0x80)
    unheard: tuple[int, ...] = ()  # of ``acked``: PUBACK said "no matching subscribers"
    verdicts: tuple[bytes, ...] = ()  # payloads on our verdict topic, unchecked
    resend_requests: tuple[bytes, ...] = ()  # payloads on our resend topic, unchecked
    connected: bool = False  # a (re)connection happened since the last poll


def _reason_value(reason: ReasonCode | int | None) -> int:
    if reason is None:
        return 0
    return int(reason.value) if isinstance(reason, ReasonCode) else int(reason)


class BatchPublisher:
    def __init__(
        self, config: MqttConfig, gateway_id: str, *, link: VerifierLinkConfig | None = None
    ) -> None:
        self.config = config
        self.gateway_id = gateway_id
        self.link = link if link is not None else VerifierLinkConfig()
        self.batch_topic = config.topics.batch(gateway_id)
        self.status_topic = config.topics.status(gateway_id)
        self.verdict_topic = config.topics.verdict(gateway_id)
        self.resend_topic = config.topics.resend(gateway_id)
        self._connected = threading.Event()
        self._stopping = False
        self._last_fail_log = -math.inf
        # (kind, mqtt mid, reason code, payload) from paho's thread to the pipeline's
        self._events: queue.SimpleQueue[tuple[str, int, int, bytes]] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # mqtt mid -> batch seq
        # Replaced, never mutated: paho's thread reads it in _on_connect.
        self._status: dict[str, Any] = {"state": "online", "gateway": gateway_id}
        self._client = self._make_client()

    # --- setup --------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        v5 = cfg.v5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            # Unacknowledged batches live in the outbox, not in broker session state; a
            # persistent session only keeps the verdicts published while we are away
            # (a convenience: re-published batches get their verdicts again anyway).
            clean_session=None if v5 else not self.link.end_to_end,
        )
        client.max_inflight_messages_set(cfg.max_inflight)
        configure_client(client, cfg)  # credentials, TLS, reconnect backoff
        will = json.dumps(
            {"state": "offline", "gateway": self.gateway_id, "reason": "connection lost"}
        )
        client.will_set(self.status_topic, will, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect in the background; paho retries with backoff until the broker answers."""
        cfg = self.config
        log.info(
            "connecting to MQTT broker %s:%d (MQTT %s%s) as %s",
            cfg.host,
            cfg.port,
            cfg.protocol,
            ", TLS" if cfg.tls else "",
            cfg.client_id,
        )
        if cfg.v5 and self.link.end_to_end:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self.link.session_expiry_s
            self._client.connect_async(
                cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()

    # --- paho callbacks (network thread): only enqueue, never touch pipeline state ------

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            # The agent keeps retrying whatever the reason: its batches wait in the
            # outbox, and a broker's credentials or ACL can be fixed while it runs.
            log.error("%s", describe_refusal(self.config, reason))
            return
        log.info("connected to MQTT broker %s:%d", self.config.host, self.config.port)
        self._last_fail_log = -math.inf
        self._connected.set()
        if self.link.end_to_end:
            # Every time: a broker restarted without persistence forgot the session.
            client.subscribe([(self.verdict_topic, 1), (self.resend_topic, 1)])
        self._events.put(("connected", 0, 0, b""))
        client.publish(self.status_topic, self._status_payload(), qos=1, retain=True)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        # paho retries with backoff by itself; say so once, then once a minute.
        now = time.monotonic()
        if now - self._last_fail_log >= 60.0:
            self._last_fail_log = now
            log.warning(
                "cannot connect to MQTT broker %s:%d (check host, port, TLS files, credentials); "
                "retrying with backoff up to %.0f s, batches stay in the outbox",
                self.config.host,
                self.config.port,
                self.config.reconnect_max_s,
            )

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning(
                "lost the MQTT broker %s:%d (%s); reconnecting with backoff, batches stay in the outbox",
                self.config.host,
                self.config.port,
                reason,
            )
        self._connected.clear()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        self._events.put(("puback", mid, _reason_value(reason), b""))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        kind = "verdict" if msg.topic == self.verdict_topic else "resend"
        if msg.topic in (self.verdict_topic, self.resend_topic):
            self._events.put((kind, 0, 0, bytes(msg.payload)))

    # --- used by the pipeline -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def has_room(self) -> bool:
        return len(self._inflight) < self.config.max_inflight

    def publish(self, batch: StoredBatch) -> bool:
        """Hand one batch to paho; False if paho did not take it (hand it again later)."""
        info = self._client.publish(self.batch_topic, batch.payload, qos=1, retain=False)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("paho could not queue batch %d: %s", batch.seq, mqtt.error_string(info.rc))
            return False
        # NO_CONN: paho keeps the message and sends it once the connection is back.
        self._inflight[info.mid] = batch.seq
        return True

    def poll(self) -> PublishResult:
        """PUBACKs, verdicts, resend requests and connections since the last call."""
        acked: list[int] = []
        rejected: list[int] = []
        unheard: list[int] = []
        verdicts: list[bytes] = []
        resends: list[bytes] = []
        connected = False
        while True:
            try:
                kind, mid, reason, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "verdict":
                verdicts.append(payload)
                continue
            if kind == "resend":
                resends.append(payload)
                continue
            if kind == "connected":
                connected = True
                continue
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # a status message
            if reason >= 0x80:
                log.error("broker refused batch %d (reason code 0x%02x); will retry", seq, reason)
                rejected.append(seq)
            else:
                acked.append(seq)
                if reason == NO_MATCHING_SUBSCRIBERS:
                    unheard.append(seq)
        return PublishResult(
            tuple(acked),
            tuple(rejected),
            tuple(unheard),
            tuple(verdicts),
            tuple(resends),
            connected,
        )

    def forget_inflight(self) -> None:
        """Drop paho's copies of unacknowledged batches (they are still in the outbox)."""
        self._inflight.clear()

    def _status_payload(self) -> str:
        return json.dumps({**self._status, "time": round(time.time(), 3)}, sort_keys=True)

    def set_status(self, **fields: Any) -> None:
        """Update the retained status message (published now if connected, else on connect)."""
        changed = {k: v for k, v in fields.items() if self._status.get(k) != v}
        if not changed:
            return
        self._status = {**self._status, **changed}
        if self.connected:
            self._client.publish(self.status_topic, self._status_payload(), qos=1, retain=True)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self, *, timeout: float) -> None:
        """Publish the retained 'offline' status, disconnect cleanly, stop paho's thread."""
        self._stopping = True
        try:
            if self.connected:
                self._status = {**self._status, "state": "offline", "reason": "shutdown"}
                info = self._client.publish(
                    self.status_topic, self._status_payload(), qos=1, retain=True
                )
                try:
                    info.wait_for_publish(timeout=max(0.1, min(timeout, 2.0)))
                except (RuntimeError, ValueError):
                    pass
            self._client.disconnect()
        finally:
            self._client.loop_stop()
