"""Which gateways are online: the agents' retained status messages, as the broker has them.

Every agent keeps a retained JSON message on ``<prefix>/<gw>/status`` ("online", and
"offline" by its Last Will or at shutdown). The verifier's console subscribes to them on
a connection of its own (``<client_id>-status``, clean session, QoS 0): it never
touches the batch session of the worker. When the broker does not let the verifier read
those topics, every gateway's status stays "unknown", and the console says so.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeseal.plumbing.mqtt_settings import configure_client
from edgeseal.verifier.config import MqttConfig
from edgeseal.wire.topics import TopicKind

log = logging.getLogger(__name__)

MAX_STATUS_BYTES = 4096
MAX_GATEWAYS = 10_000


class StatusBoard:
    """The last status heard per gateway; read by the API's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, dict[str, Any]] = {}
        self.subscribed = False

    def record(self, gateway_id: str, payload: bytes) -> None:
        if len(payload) > MAX_STATUS_BYTES:
            return
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = {}
        state = data.get("state") if isinstance(data, dict) else None
        entry = {
            "state": state if state in ("online", "offline") else "unknown",
            "reason": str(data.get("reason", ""))[:200] if isinstance(data, dict) else "",
            "heard_us": time.time_ns() // 1000,
        }
        with self._lock:
            if gateway_id in self._status or len(self._status) < MAX_GATEWAYS:
                self._status[gateway_id] = entry

    def get(self, gateway_id: str) -> dict[str, Any]:
        with self._lock:
            found = self._status.get(gateway_id)
        if found is not None:
            return dict(found)
        why = "no status message heard" if self.subscribed else "status topics not subscribed"
        return {"state": "unknown", "reason": why, "heard_us": None}


class StatusWatcher:
    """A small MQTT client that fills a StatusBoard from the retained status topics."""

    def __init__(self, config: MqttConfig, board: StatusBoard) -> None:
        self._config = config
        self._board = board
        self._filter = config.topics.every_gateway(TopicKind.STATUS)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{config.client_id}-status"[:64],
            protocol=mqtt.MQTTv5 if config.v5 else mqtt.MQTTv311,
        )
        configure_client(self._client, config)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self._filter, qos=0)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            log.warning(
                "the broker refused the status topics %s: the console shows every "
                "gateway's status as unknown",
                self._filter,
            )
            return
        self._board.subscribed = True

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        parts = msg.topic.rsplit("/", 2)
        if len(parts) == 3:
            self._board.record(parts[1], bytes(msg.payload))

    def start(self) -> None:
        cfg = self._config
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
