"""``edgeseal verifier``: MQTT batches in, stored verdicts out.

Each worker process holds one MQTT 5 session (clean_start=False with a session
expiry) subscribed with QoS 1 to ``$share/<group>/<prefix>/+/batch``: the broker
splits the batches among the group's workers and keeps a worker's share queued
while it is briefly down. A message is acknowledged only after its verdict is
committed to the shared store; a worker that dies before that gets the message
again (or the broker hands it to another session), and the re-send is recognised
by its header hash. Verdicts go to ``<prefix>/<gw>/verdict`` as JSON, signed with
the verifier's key (``[verifier] key_path``; edgeseal.wire.verdict) when one is
configured: the agents forget a batch only on such a signed "accepted" or
"duplicate". When a gateway's next seq is missing while later batches are held,
a signed resend request goes to ``<prefix>/<gw>/resend`` (verifier/resend.py).

The MQTT network thread only queues messages; one processing thread takes what has
queued up (at most ``MAX_GROUP_MESSAGES`` or ``MAX_GROUP_BYTES``), settles it in one
store transaction, then publishes the verdicts and acknowledges each message. A
backlog of small batches thus shares one commit instead of paying one each.

With ``[bus] kind = "nats"`` the batches come from a durable NATS JetStream consumer
instead (verifier/bus_nats.py); the processing thread is the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import queue
import signal
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeseal.plumbing.keyfile import KeyFileError, load_private_key
from edgeseal.plumbing.mqtt_settings import configure_client, describe_refusal, refusal_is_permanent
from edgeseal.verifier.bus import BatchLink, Inbound, PahoLink, mqtt_inbound
from edgeseal.verifier.checks import ReadingVerifier, native_reading_verifier
from edgeseal.verifier.config import ConfigError, VerifierConfig, load_config
from edgeseal.verifier.http_config import parse_address
from edgeseal.verifier.http_console import RunningConsole, start_console
from edgeseal.verifier.http_server import HttpStartError
from edgeseal.verifier.log_service import LogStartError, checkpoint_topic, start_sequencer
from edgeseal.verifier.metrics import VerifierMetrics
from edgeseal.verifier.pipeline import BatchProcessor
from edgeseal.verifier.report import store_report
from edgeseal.verifier.resend import ResendScheduler
from edgeseal.verifier.store import Gap, StoreError, VerifierStore, now_us
from edgeseal.verifier.trust import TrustStore
from edgeseal.verifier.verdict import Verdict
from edgeseal.wire.verdict import SignedVerdict, VerdictOutcome, sign_verdict

if TYPE_CHECKING:  # nats-py is an extra: imported only with [bus] kind = "nats"
    from edgeseal.verifier.bus_nats import NatsBus

log = logging.getLogger(__name__)

GAP_REPORT_INTERVAL_S = 30.0
# How often held batches are looked at for resend requests (at most).
RESEND_TICK_S = 1.0
# A group is what has queued while the previous one was being stored, up to these
# bounds (the write lock is held for the group's decisions and inserts).
MAX_GROUP_MESSAGES = 64
MAX_GROUP_BYTES = 4 << 20


class ServiceStartError(RuntimeError):
    """The worker cannot start (the message says what to fix)."""


def open_store(config: VerifierConfig) -> VerifierStore:
    return VerifierStore(
        config.store.location,
        synchronous=config.store.synchronous,
        busy_timeout_s=config.store.busy_timeout_s,
    )


class VerifierService:
    """One verifier worker: an MQTT session, a store connection, a batch processor."""

    def __init__(
        self,
        config: VerifierConfig,
        *,
        reading_verifier: ReadingVerifier = native_reading_verifier,
        gap_report_interval_s: float = GAP_REPORT_INTERVAL_S,
    ) -> None:
        self.config = config
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        # Set (network thread) when the broker refuses us for good: bad credentials...
        self._refusal: str | None = None
        self._last_connect_warning = -math.inf
        self._gap_interval = gap_report_interval_s
        self._reading_verifier = reading_verifier
        self._client: mqtt.Client | None = None
        self._signing_key: Ed25519PrivateKey | None = None
        self._resends = ResendScheduler(
            after_s=config.signing.resend_after_s, max_s=config.signing.resend_max_s
        )
        self._processor: BatchProcessor | None = None
        self._store: VerifierStore | None = None
        # Batches from the bus's network thread to the processor
        self._inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.metrics = VerifierMetrics()
        # Where the console is served, once run() has started it ([http] address).
        self.console_url: str | None = None

    # -- MQTT callbacks (network thread) --------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason_code: Any, _props: Any
    ) -> None:
        if reason_code.is_failure:
            refusal = describe_refusal(self.config.mqtt, reason_code)
            if refusal_is_permanent(reason_code):
                # Retrying with the same credentials cannot succeed: stop, and say once
                # what to fix, instead of a "Not authorized" line every few seconds.
                if self._refusal is None:
                    self._refusal = refusal
                self._stop.set()
                client.disconnect()
            else:
                log.warning("%s; retrying", refusal)
            return
        topic = self.config.mqtt.batch_subscription
        log.info(
            "connected to %s:%d as %s (session present: %s); subscribing to %s",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.config.mqtt.client_id,
            flags.session_present,
            topic,
        )
        client.subscribe(topic, qos=1)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, reason_codes: Any, _p: Any
    ) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error(
                "broker refused the subscription to %s: %s",
                self.config.mqtt.batch_subscription,
                failed,
            )
            return
        log.info("subscribed to %s", self.config.mqtt.batch_subscription)
        self.metrics.broker_connected.set(1)
        self.subscribed.set()

    def _on_connect_fail(self, _c: mqtt.Client, _u: Any) -> None:
        # paho retries with backoff by itself; say so once, then once a minute.
        now = time.monotonic()
        if now - self._last_connect_warning >= 60.0:
            self._last_connect_warning = now
            cfg = self.config.mqtt
            log.warning(
                "cannot connect to MQTT broker %s (check mqtt.host, mqtt.port%s); "
                "retrying with backoff up to %.0f s",
                cfg.broker,
                " and the mqtt.tls files" if cfg.tls else "",
                cfg.reconnect_max_s,
            )

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        self.metrics.broker_connected.set(0)
        if not self._stop.is_set():
            log.warning(
                "lost the broker %s:%d (%s); reconnecting, the session keeps our batches",
                self.config.mqtt.host,
                self.config.mqtt.port,
                reason_code,
            )

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(mqtt_inbound(msg, time.monotonic()))

    # -- processing thread -------------------------------------------------------------

    def _next_group(self) -> list[Inbound]:
        """The queued messages (waits up to 0.1 s for the first), within the group bounds."""
        try:
            group = [self._inbox.get(timeout=0.1)]
        except queue.Empty:
            return []
        size = len(group[0].payload)
        while len(group) < MAX_GROUP_MESSAGES and size < MAX_GROUP_BYTES:
            try:
                group.append(self._inbox.get_nowait())
            except queue.Empty:
                break
            size += len(group[-1].payload)
        return group

    def _process_messages(self, link: BatchLink) -> None:
        try:
            self._process_groups(link)
        except Exception as exc:  # publishing or acknowledging failed: stop, do not hang
            log.exception("the processing thread failed; stopping the worker")
            self._failure = exc
            self._stop.set()

    def _process_groups(self, link: BatchLink) -> None:
        assert self._processor is not None
        while not self._stop.is_set():
            group = self._next_group()
            if not group:
                continue
            try:
                results = self._processor.handle_many([(msg.topic, msg.payload) for msg in group])
            except sqlite3.Error as exc:
                # Disk full, I/O error, a lock held too long: the operator's to fix, one
                # line says what happened. Nothing of the group was committed.
                log.error(
                    "cannot store the verdicts of %d message(s) (first on %s) in %s: %s; "
                    "stopping, they are not acknowledged and the broker delivers them again: "
                    "fix the store (its disk, e.g. free space, or its database server) and "
                    "restart the worker",
                    len(group),
                    group[0].topic,
                    self.config.store.where,
                    exc,
                )
                self._failure = exc
                self._stop.set()
                return
            except Exception as exc:
                log.exception(
                    "could not store the verdicts of %d message(s) (first on %s); stopping "
                    "without acknowledging them so that the broker delivers them again",
                    len(group),
                    group[0].topic,
                )
                self._failure = exc
                self._stop.set()
                return
            stored = time.monotonic()
            outgoing = [
                (
                    self.config.mqtt.topics.verdict(verdict.gateway_id),
                    self._verdict_payload(verdict),
                )
                for verdicts in results
                for verdict in verdicts
                # No valid gateway in the topic: nowhere to publish; it is in quarantine.
                if verdict.gateway_id is not None
            ]
            link.settle(outgoing, group)
            for msg, verdicts in zip(group, results):
                self.metrics.observe(verdicts, stored - msg.received)

    def _verdict_payload(self, verdict: Verdict) -> bytes:
        """The JSON verdict, signed when a key is configured and it names one batch."""
        text = verdict.to_json()
        key = self._signing_key
        if key is None or verdict.seq is None or verdict.header_hash is None:
            return text  # a malformed payload names no batch: nothing a gateway could forget
        assert verdict.gateway_id is not None
        signed = SignedVerdict(
            VerdictOutcome.from_text(verdict.outcome.value),
            verdict.gateway_id,
            verdict.seq,
            verdict.header_hash,
            now_us(),
            verdict.reason.value if verdict.reason is not None else "",
        )
        return sign_verdict(signed, key, json.loads(text))

    def _report_gaps(self, gaps: list[Gap]) -> None:
        # With several workers a batch is often held for a moment; report only gaps
        # that stayed open for a whole interval.
        stale_before = now_us() - int(self._gap_interval * 1e6)
        open_gaps = [g for g in gaps if g.oldest_received_us <= stale_before]
        self.metrics.observe_gaps(gaps, open_gaps)
        for gap in open_gaps:
            log.warning(
                "gateway %s: %d batch(es) held (seqs %s), waiting for seq %d",
                gap.gateway_id,
                gap.held,
                ",".join(map(str, gap.held_seqs[:10])),
                gap.waiting_for,
            )

    def _request_resends(self, link: BatchLink, gaps: list[Gap]) -> None:
        """Publish the signed resend requests that are due (verifier/resend.py)."""
        key = self._signing_key
        if key is None:
            return
        for request in self._resends.due(gaps, now=time.monotonic(), now_us=now_us()):
            log.info(
                "gateway %s: seq %d..%d missing while later batches are held; "
                "asking the gateway to re-publish them",
                request.gateway_id,
                request.first_seq,
                request.last_seq,
            )
            self.metrics.resend_requests.inc()
            link.publish(
                self.config.mqtt.topics.resend(request.gateway_id), request.to_payload(key)
            )
        for gap in self._resends.unfilled.values():
            log.error(
                "gateway %s: seq %d..%d still missing after %d resend requests; the gateway "
                "does not have them (see docs/verifier.md, 'A gap that cannot be filled')",
                gap.gateway_id,
                gap.first_seq,
                gap.last_seq,
                gap.requests,
            )
        self.metrics.gaps_unfilled.set(len(self._resends.unfilled))

    # -- lifecycle -------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            # MQTT 3.1.1 keeps the session with clean_session=False (no expiry to set).
            clean_session=None if cfg.v5 else False,
            protocol=mqtt.MQTTv5 if cfg.v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        try:
            configure_client(client, cfg)  # credentials, TLS, reconnect backoff
        except ConfigError as exc:
            raise ServiceStartError(str(exc)) from None
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        return client

    def _start_console(self) -> RunningConsole | None:
        """The console, API and log over HTTP when ``[http] address`` is set."""
        if not self.config.http.enabled:
            return None
        try:
            console = start_console(self.config)
        except HttpStartError as exc:
            raise ServiceStartError(str(exc)) from None
        self.console_url = console.url
        return console

    def _connect(self, client: mqtt.Client) -> None:
        cfg = self.config.mqtt
        if cfg.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.session_expiry_s
            client.connect_async(
                cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=props
            )
        else:
            client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)

    def _make_nats_bus(self) -> NatsBus:
        try:
            from edgeseal.verifier.bus_nats import NatsBus
        except ImportError as exc:
            raise ServiceStartError(
                f'[bus] kind = "nats" needs the nats-py package ({exc}); install it with '
                "pip install 'edgeseal[nats]'"
            ) from None
        return NatsBus(
            self.config.bus,
            self.config.mqtt.topics,
            name=self.config.mqtt.client_id,
            deliver=self._inbox.put,
            # Held batches wait at most about two groups: far less than bus.ack_wait_s.
            max_outstanding=2 * MAX_GROUP_MESSAGES,
        )

    def _watch_nats(self, bus: NatsBus) -> None:
        if bus.failure is not None:
            if self._refusal is None:
                self._refusal = bus.failure
            self._stop.set()
            return
        flowing = bus.ready.is_set() and bus.connected.is_set()
        self.metrics.broker_connected.set(1 if flowing else 0)
        if flowing and not self.subscribed.is_set():
            log.info("consuming batches from NATS stream %s", self.config.bus.stream)
            self.subscribed.set()

    def run(self) -> int:
        """Serve until stop() (or a fatal error); returns the process exit status.

        Raises ServiceStartError when the worker cannot run as configured: the metrics
        port is taken, the TLS files are unusable, or the broker refused the connection
        for a reason retrying cannot cure (bad credentials, not authorized).
        """
        cfg = self.config
        if cfg.signing.key_path is not None:
            try:
                self._signing_key = load_private_key(cfg.signing.key_path, what="verifier key")
            except KeyFileError as exc:
                raise ServiceStartError(str(exc)) from None
        else:
            log.warning(
                "no [verifier] key_path: verdicts are published unsigned and no resend "
                "requests are made; agents with a [verifier] public_key keep every batch"
            )
        nats_bus: NatsBus | None = None
        client: mqtt.Client | None = None
        link: BatchLink
        if cfg.bus.nats:
            nats_bus = self._make_nats_bus()
            link = nats_bus
        else:
            client = self._make_client()
            link = PahoLink(client)
        if cfg.metrics_port:
            try:
                self.metrics.serve(cfg.metrics_port)
            except OSError as exc:
                raise ServiceStartError(
                    f"cannot serve metrics on 127.0.0.1:{cfg.metrics_port}: {exc.strerror}"
                ) from None
        store = open_store(cfg)
        self._store = store
        self._processor = BatchProcessor(
            store,
            TrustStore(cfg.gateways),
            worker=cfg.mqtt.client_id,
            reading_verifier=self._reading_verifier,
            topics=cfg.mqtt.topics,
            limits=cfg.limits,
        )
        if client is not None:
            self._connect(client)
        processing = threading.Thread(
            target=self._process_messages, args=(link,), name="verifier-processing"
        )

        def publish_checkpoint(note: bytes) -> None:
            # Retained: a new subscriber gets the newest checkpoint at once.
            if client is not None:
                client.publish(checkpoint_topic(cfg.mqtt.topic_prefix), note, qos=1, retain=True)
            else:  # core NATS keeps nothing: only current subscribers get it
                link.publish(checkpoint_topic(cfg.mqtt.topic_prefix), note)

        try:
            sequencer = start_sequencer(
                cfg, worker=cfg.mqtt.client_id, publish=publish_checkpoint, metrics=self.metrics
            )
        except LogStartError as exc:
            store.close()
            self.metrics.close()
            raise ServiceStartError(str(exc)) from None
        if client is not None:
            client.loop_start()
        if nats_bus is not None:
            nats_bus.start()
        log.info(
            "verifier %s started: store %s, %d enrolled gateway(s)",
            cfg.mqtt.client_id,
            cfg.store.where,
            len(cfg.gateways),
        )
        console: RunningConsole | None = None
        try:
            console = self._start_console()
            processing.start()
            reporter = open_store(cfg)
            tick = min(self._gap_interval, RESEND_TICK_S, cfg.signing.resend_after_s)
            next_report = time.monotonic() + self._gap_interval
            try:
                while not self._stop.wait(tick):
                    if nats_bus is not None:
                        self._watch_nats(nats_bus)
                    try:
                        gaps = reporter.gaps()
                    except sqlite3.OperationalError as exc:
                        # A database server restarting: the processing thread says so
                        # and stops if it cannot store; gap reports wait for it.
                        log.warning("cannot read the held batches from the store: %s", exc)
                        continue
                    self._request_resends(link, gaps)
                    if time.monotonic() >= next_report:
                        next_report = time.monotonic() + self._gap_interval
                        self._report_gaps(gaps)
            finally:
                reporter.close()
        finally:
            self._stop.set()
            if processing.ident is not None:
                processing.join()  # finishes the group in hand; what is still queued stays unacked
            if sequencer is not None:
                sequencer.stop()
            if console is not None:
                console.close()
            if client is not None:
                client.disconnect()
                client.loop_stop()
            if nats_bus is not None:
                nats_bus.stop()  # gives back what is still queued (nak)
            store.close()
            self.metrics.close()
        if self._refusal is not None:
            raise ServiceStartError(f"{self._refusal}; stopping")
        if self._failure is not None:
            return 1
        log.info("verifier %s stopped", cfg.mqtt.client_id)
        return 0


def _print_report(config: VerifierConfig) -> int:
    if not config.store.url and not config.store.path.exists():
        log.error("store %s does not exist (has the verifier run yet?)", config.store.path)
        return 2
    try:
        with open_store(config) as store:
            report = store_report(store, enrolled=config.gateways, topics=config.mqtt.topics)
    except StoreError as exc:
        log.error("%s", exc)
        return 2
    print(report.text, end="")
    return 1 if report.needs_attention else 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, help="verifier.toml (see docs/verifier.md)"
    )
    parser.add_argument(
        "--client-id",
        help="override mqtt.client_id; every worker needs its own, stable across restarts",
    )
    parser.add_argument("--store", type=Path, help="override store.path")
    parser.add_argument(
        "--http-address",
        help='override [http] address ("host:port", or "off"): with several workers on '
        "one configuration, only one serves the console, or each on its own port",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print chain heads, held batches and quarantine counts, then exit "
        "(status 1 while batches are held or an enrolled gateway has no accepted batch)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if args.client_id:
        config = replace(config, mqtt=replace(config.mqtt, client_id=args.client_id))
    if args.store:  # a SQLite file, also when the config names a PostgreSQL store
        config = replace(config, store=replace(config.store, path=args.store, url=""))
    if args.http_address:
        try:
            host, port = (
                ("", 0)
                if args.http_address == "off"
                else parse_address(args.http_address, "--http-address")
            )
        except ConfigError as exc:
            log.error("%s", exc)
            return 2
        config = replace(config, http=replace(config.http, host=host, port=port))
    if args.report:
        return _print_report(config)
    service = VerifierService(config)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current group of batches", signum)
        service.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        return service.run()
    except (StoreError, ServiceStartError) as exc:
        log.error("%s", exc)
        return 2
