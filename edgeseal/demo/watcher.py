"""What reaches the broker: a subscriber to the demo gateway's batch and verdict topics
that counts batches and verdicts, and keeps one reading per batch for the receipt."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from edgeseal.demo.errors import DemoError
from edgeseal.demo.settings import GATEWAY_ID, STARTUP_TIMEOUT_S, TOPICS
from edgeseal.wire.topics import TopicKind


@dataclass
class Progress:
    """What the demo has seen so far (written by the MQTT thread, read by the display)."""

    batches_seen: int = 0
    readings_in_batches: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    readings_accepted: int = 0
    last_accepted_seq: int = 0
    # A reading from each batch on the wire, by header hash, so that one from an
    # accepted batch can be given a receipt: (device_id, boot_id, device_seq, batch seq).
    sample_reading: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    seen_batches: set[str] = field(default_factory=set)  # header hashes counted
    batch_readings: dict[str, int] = field(default_factory=dict)  # header hash -> readings
    receipt_candidate: tuple[int, int, int, int] | None = None
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def settled(self) -> int:
        """Verdicts that settle a batch (a duplicate verdict answers a re-send, not a batch)."""
        with self.lock:
            return sum(
                n for outcome, n in self.verdicts.items() if outcome in ("accepted", "quarantined")
            )


class Watcher:
    """An MQTT 3.1.1 client (both brokers speak it) on the batch and verdict topics."""

    def __init__(self, host: str, port: int, progress: Progress) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.progress = progress
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="edgeseal-demo-watch", protocol=mqtt.MQTTv311
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.on_message = self._on_message
        self._host, self._port = host, port

    def start(self) -> None:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(STARTUP_TIMEOUT_S):
            raise DemoError(f"could not subscribe to the broker on {self._host}:{self._port}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        client.subscribe([(TOPICS.batch(GATEWAY_ID), 1), (TOPICS.verdict(GATEWAY_ID), 1)])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        try:
            if TOPICS.gateway_of(msg.topic, TopicKind.BATCH) is not None:
                self._on_batch(msg.payload)
            else:
                self._on_verdict(json.loads(msg.payload))
        except Exception as exc:  # noqa: BLE001 - a display problem must not stop the demo
            with self.progress.lock:
                self.progress.problems.append(f"could not read a message on {msg.topic}: {exc}")

    def _on_batch(self, payload: bytes) -> None:
        from edgeseal.wire.batch import SealedBatch
        from edgeseal.wire.record import RECORD_TAG, ReadingRecord

        batch = SealedBatch.from_payload(payload)
        # Leaves are readings or signed events (boot, loss notices): sample a reading.
        readings = [
            r for r in (batch.record(i) for i in range(batch.count)) if r.startswith(RECORD_TAG)
        ]
        key = batch.hash.hex()
        with self.progress.lock:
            if key in self.progress.seen_batches:
                return  # an exact re-send (after a reconnect): the same batch, counted once
            self.progress.seen_batches.add(key)
            self.progress.batches_seen += 1
            # Readings only: the signed events among them are not readings.
            self.progress.readings_in_batches += len(readings)
            self.progress.batch_readings[key] = len(readings)
            if readings:
                middle = ReadingRecord.decode(readings[len(readings) // 2])
                self.progress.sample_reading[key] = (
                    middle.device_id,
                    middle.boot_id,
                    middle.device_seq,
                    batch.header.seq,
                )

    def _on_verdict(self, verdict: dict[str, Any]) -> None:
        outcome = str(verdict.get("verdict"))
        with self.progress.lock:
            p = self.progress
            p.verdicts[outcome] = p.verdicts.get(outcome, 0) + 1
            if outcome == "accepted":
                # The verdict counts every leaf (events too): the batch's readings if seen.
                p.readings_accepted += p.batch_readings.get(
                    str(verdict.get("header_hash")), int(verdict.get("count") or 0)
                )
                p.last_accepted_seq = max(p.last_accepted_seq, int(verdict.get("seq") or 0))
                sample = p.sample_reading.get(str(verdict.get("header_hash")))
                if sample is not None and p.receipt_candidate is None:
                    p.receipt_candidate = sample
            elif outcome == "quarantined":
                p.problems.append(
                    f"batch seq {verdict.get('seq')} quarantined "
                    f"({verdict.get('reason')}): {verdict.get('detail')}"
                )
