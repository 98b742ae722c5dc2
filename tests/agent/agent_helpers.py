"""Shared helpers for the agent tests: configs, key files, a batch subscriber, a stream checker."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeseal.agent.identity import GatewayKey, save_key
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.wire.batch import SealedBatch, header_hash, key_id_of
from edgeseal.wire.event import EventRecord, is_event
from edgeseal.wire.record import ReadingRecord

ROOT = Path(__file__).resolve().parents[2]


def make_key(path: Path) -> GatewayKey:
    key = GatewayKey.generate()
    save_key(key, path)
    return key


def write_config(
    path: Path,
    *,
    gateway_id: str = "gw-test",
    key_path: Path,
    outbox_path: Path,
    broker_port: int,
    ports: Iterable[str] = (),
    extra: str = "",
    max_readings: int = 64,
    max_delay_s: float = 0.2,
    max_bytes: int = 16 * 1024 * 1024,
    metrics_port: int = 0,
    next_key_path: Path | None = None,
    mqtt_extra: str = "",
) -> Path:
    serial = "".join(f'\n[[serial]]\npath = "{p}"\n' for p in ports)
    rotation = f'next_key_path = "{next_key_path}"\n' if next_key_path else ""
    path.write_text(
        f"""
[gateway]
id = "{gateway_id}"
key_path = "{key_path}"
{rotation}
{serial}
[batch]
max_readings = {max_readings}
max_delay_s = {max_delay_s}

[outbox]
path = "{outbox_path}"
max_bytes = {max_bytes}

[mqtt]
host = "127.0.0.1"
port = {broker_port}
reconnect_min_s = 0.2
reconnect_max_s = 1.0
flush_timeout_s = 3.0
{mqtt_extra}

[metrics]
port = {metrics_port}
{extra}
""",
        encoding="utf-8",
    )
    return path


def agent_command(config: Path, log_level: str = "INFO") -> list[str]:
    return [
        sys.executable,
        "-m",
        "edgeseal",
        "agent",
        "--log-level",
        log_level,
        "--config",
        str(config),
    ]


def start_agent(
    config: Path, log_path: Path, log_level: str = "INFO", extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(extra_env or {})
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            agent_command(config, log_level),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )


def run_agent_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return subprocess.run(  # noqa: PLW1510 - callers check the status
        [sys.executable, "-m", "edgeseal", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@dataclass
class Subscriber:
    """A real MQTT subscriber that records every batch payload and status message in order."""

    host: str
    port: int
    topic_prefix: str = "edgeseal/v1"
    # A fixed client id with a session that outlives disconnects and (persistent) broker
    # restarts: QoS 1 messages published meanwhile are queued for this subscriber.
    session_id: str | None = None
    payloads: list[bytes] = field(default_factory=list)
    statuses: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _subscribed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.session_id or "", protocol=mqtt.MQTTv5
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self._subscribed.clear()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(f"{self.topic_prefix}/+/batch", qos=1)
        client.subscribe(f"{self.topic_prefix}/+/status", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            (self.payloads if msg.topic.endswith("/batch") else self.statuses).append(msg.payload)

    def __enter__(self) -> Subscriber:  # noqa: PYI034
        if self.session_id:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect(self.host, self.port, clean_start=False, properties=props)
        else:
            self.client.connect(self.host, self.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscriber got no SUBACK"
        return self

    def __exit__(self, *_: object) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def wait_subscribed(self, timeout: float = 10) -> bool:
        return self._subscribed.wait(timeout)

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self.payloads)

    def wait_for(self, predicate: Callable[[list[bytes]], bool], timeout: float) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.snapshot()
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1 Merkle tree hash, written out independently of the native core."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])
    ).digest()


@dataclass
class StreamReport:
    batches: dict[int, SealedBatch]  # seq -> first copy received
    readings: list[ReadingRecord]  # every reading of every distinct batch, in chain order
    resends: int  # byte-identical copies of a batch already received
    arrival_seqs: list[int]  # batch seqs in arrival order

    def reading_keys(self) -> set[tuple[int, int, int]]:
        return {(r.device_id, r.boot_id, r.device_seq) for r in self.readings}


def check_stream(payloads: Iterable[bytes], public_key: bytes, *, gateway_id: str) -> StreamReport:
    """Verify what a back end would: signatures, roots, an unbroken chain, exact duplicates only.

    Raises AssertionError describing the first violation. Key rotations announced in
    ``next_public_key`` are followed.
    """
    by_seq: dict[int, bytes] = {}
    batches: dict[int, SealedBatch] = {}
    arrival: list[int] = []
    resends = 0
    for payload in payloads:
        batch = SealedBatch.from_payload(payload)
        seq = batch.header.seq
        arrival.append(seq)
        if seq in by_seq:
            assert by_seq[seq] == payload, (
                f"batch {seq} arrived twice with different bytes (a fork)"
            )
            resends += 1
            continue
        by_seq[seq] = payload
        batches[seq] = batch
    seqs = sorted(batches)
    assert seqs == list(range(1, len(seqs) + 1)), f"chain has gaps: {seqs[:5]}..{seqs[-5:]}"
    key = public_key
    prev = bytes(32)
    readings: list[ReadingRecord] = []
    seen: set[tuple[int, int, int]] = set()
    for seq in seqs:
        b = batches[seq]
        h = b.header
        assert h.gateway_id == gateway_id
        assert h.prev_hash == prev, f"batch {seq} does not link to batch {seq - 1}"
        assert h.key_id == key_id_of(key), f"batch {seq} signed by an unexpected key"
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(b.header_signature, b.header_bytes)
        except InvalidSignature:
            raise AssertionError(f"batch {seq}: header signature invalid") from None
        assert reference_root(b.leaves()) == h.root, f"batch {seq}: root mismatch"
        verifier = Ed25519PublicKey.from_public_bytes(key)
        times: list[int] = []
        for i in range(h.count):
            try:
                verifier.verify(b.signature(i), b.record(i))
            except InvalidSignature:
                raise AssertionError(f"batch {seq}: reading {i} has an invalid signature") from None
            if is_event(b.record(i)):  # device/agent events are sealed among the readings
                times.append(EventRecord.decode(b.record(i)).gateway_time_us)
                continue
            rec = ReadingRecord.decode(b.record(i))
            times.append(rec.gateway_time_us)
            k = (rec.device_id, rec.boot_id, rec.device_seq)
            assert k not in seen, f"reading {k} stored twice (batch {seq})"
            seen.add(k)
            readings.append(rec)
        assert h.first_time_us == min(times) and h.last_time_us == max(times)
        prev = header_hash(b.header_bytes)
        if h.next_public_key is not None:
            key = h.next_public_key
    return StreamReport(batches, readings, resends, arrival)


def stream_covers(
    payloads: list[bytes], public_key: bytes, *, gateway_id: str, wanted: set[tuple[int, int, int]]
) -> bool:
    """For ``Subscriber.wait_for``: the stream checks out and holds every wanted reading
    (False while a batch is still missing, e.g. in flight)."""
    try:
        return wanted <= check_stream(payloads, public_key, gateway_id=gateway_id).reading_keys()
    except AssertionError:
        return False


@contextmanager
def persistent_broker() -> Iterator[MosquittoBroker]:
    """A mosquitto that keeps sessions over stop/start, with a workdir it can really write.

    Started as root, mosquitto switches to user "mosquitto", which cannot enter pytest's
    private tmp directory; its persistence file would silently not be written (the log
    says "Permission denied") and subscriber sessions would vanish on restart.
    """
    workdir = Path(tempfile.mkdtemp(prefix="edgeseal-agent-broker-"))
    workdir.chmod(0o777)
    broker = MosquittoBroker(workdir=workdir, persistent=True)
    try:
        broker.start()
        yield broker
    finally:
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)


def restart_keeps_sessions(broker: MosquittoBroker) -> None:
    """Stop the broker and check it saved its sessions (then start it again separately)."""
    broker.stop()
    assert broker.workdir is not None
    saved = broker.workdir / "mosquitto.db"
    assert saved.exists(), f"mosquitto saved no sessions: {broker.log_path.read_text()[-500:]}"
