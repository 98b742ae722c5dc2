"""Batches from a NATS JetStream consumer, verdicts back on core NATS (``[bus] kind = "nats"``).

The gateways do not change: they publish with MQTT (3.1.1; nats-server 2.9 has no
MQTT 5) to nats-server's MQTT listener, which turns ``<prefix>/<gw>/batch`` into the
subject ``<prefix.>.<gw>.batch``. A JetStream stream (work-queue retention,
replicated ``bus.replicas`` ways) captures those subjects, and every verifier worker
pulls from one durable consumer with explicit acknowledgement, so the workers split
the batches. A batch is acknowledged only after its verdict is committed to the
store; one a worker never acknowledges (it died, its store failed) is delivered
again after ``bus.ack_wait_s`` (or ``GIVE_BACK_DELAY_S`` after the worker stops and
naks it) and recognised by its header hash.

Verdicts and resend requests go out as plain NATS messages on the subjects of
``<prefix>/<gw>/verdict`` and ``/resend``; nats-server hands them to the gateway's
MQTT subscription with QoS 0 (it gives QoS 1 only to messages published over MQTT).
So a verdict published while the gateway is offline is not kept for it. Nothing is
lost by that: the agent re-publishes a batch that got no verdict
(``republish_min_s``) and the verifier answers the copy with a signed "duplicate".

nats-py is asyncio only. Its client runs on an event loop in a thread of its own
(``verifier-nats``), the counterpart of paho's network thread: it pulls batches and
puts them on the worker's queue; the processing thread hands verdicts and
acknowledgements back with ``settle``, which waits until the loop has written them.
A sync facade over nats-py would block the loop between calls and lose the
heartbeats and reconnects that run on it.

TLS and logging in (``bus.tls_*``, ``bus.username``/``EDGESEAL_NATS_PASSWORD``,
``EDGESEAL_NATS_TOKEN``, ``bus.creds_file``): a refusal that retrying cannot cure (the
server refused the credentials, its certificate does not verify, it wants a client
certificate) stops the worker at start with ``failure`` naming the setting to fix,
instead of retrying for ever. Once connected, the same refusal from a server (one
node of a cluster with other settings, a change in progress) is logged and retried.
With TLS configured, credentials are never sent over a connection that is not TLS:
nats-py upgrades only when the server's INFO asks for TLS, which a server without
TLS (or someone in the path) does not.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from edgeseal.verifier.bus import Inbound
from edgeseal.verifier.bus_config import (
    ENV_PASSWORD,
    ENV_TOKEN,
    BusConfig,
    subject_matches,
    subject_of_topic,
    topic_of_subject,
)
from edgeseal.wire.topics import Topics

log = logging.getLogger(__name__)

# How long a pull request waits on the server for new batches.
FETCH_WAIT_S = 1.0
# A batch given back when the worker stops is delivered again after this long: longer
# than any pull request of the stopping worker can still be open on the server.
GIVE_BACK_DELAY_S = FETCH_WAIT_S + 0.5
# How long ``settle`` waits for the loop to write verdicts and acknowledgements.
SETTLE_TIMEOUT_S = 10.0
# The consumer's bound on delivered, unacknowledged batches over all workers.
MAX_ACK_PENDING = 10_000
RETRY_S = 1.0


class BusStartError(RuntimeError):
    """The stream or consumer cannot be used as configured (the message says why)."""


class PlaintextServerError(nats.errors.Error):
    """TLS is configured but the server did not ask for it: the credentials stay unsent."""

    def __str__(self) -> str:
        return "nats: the server offers no TLS"


class GuardedClient(NatsClient):
    """nats-py's client that, with ``require_tls``, never logs in over plain TCP.

    nats-py upgrades a connection to TLS only when the server's INFO says
    ``tls_required``; a server without TLS, or someone in the path who strips the flag,
    would get the CONNECT line, credentials and all, in clear. The check sits where
    that line is made, on every connect and reconnect.
    """

    def __init__(self, *, require_tls: bool) -> None:
        super().__init__()
        self._require_tls = require_tls

    def _connect_command(self) -> bytes:
        if self._require_tls and not _over_tls(self):
            raise PlaintextServerError()
        return super()._connect_command()


def _over_tls(client: NatsClient) -> bool:
    # nats-py's internals: a TCP transport whose writer runs over TLS after the upgrade,
    # or a wss:// WebSocket. Anything unrecognised counts as plain (the check fails
    # closed, and the TLS tests say so).
    transport = getattr(client, "_transport", None)
    writer = getattr(transport, "_io_writer", None)
    if writer is not None:
        return writer.get_extra_info("ssl_object") is not None
    server = getattr(client, "_current_server", None)
    uri = getattr(server, "uri", None)
    return getattr(uri, "scheme", None) == "wss"


def tls_context(config: BusConfig) -> ssl.SSLContext | None:
    """The client's TLS settings: the server's certificate checked against ``tls_ca_file``
    (else the system's CAs) and its host name, TLS 1.2 or later, the client certificate.

    None when TLS is off. Raises BusStartError when a file cannot be used.
    """
    if not config.tls:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks the certificate and host name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if config.tls_ca_file is not None:
            context.load_verify_locations(cafile=str(config.tls_ca_file))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    except (ssl.SSLError, OSError) as exc:
        raise BusStartError(
            f"NATS: bus.tls_ca_file {str(config.tls_ca_file)!r} holds no usable CA "
            f"certificate (PEM): {exc}"
        ) from None
    if config.tls_cert_file is not None and config.tls_key_file is not None:
        try:
            context.load_cert_chain(str(config.tls_cert_file), str(config.tls_key_file))
        except (ssl.SSLError, OSError) as exc:
            raise BusStartError(
                f"NATS: cannot use bus.tls_cert_file {str(config.tls_cert_file)!r} with "
                f"bus.tls_key_file {str(config.tls_key_file)!r} (PEM, a key that matches "
                f"the certificate, no passphrase): {exc}"
            ) from None
    return context


def auth_options(config: BusConfig) -> dict[str, Any]:
    """The arguments of nats-py's ``connect`` that log in as ``config`` says."""
    if config.username is not None:
        return {"user": config.username, "password": config.password}
    if config.token is not None:
        return {"token": config.token}
    if config.creds_file is not None:
        return {"user_credentials": str(config.creds_file)}
    return {}


def refusal(exc: BaseException, config: BusConfig) -> str | None:
    """What to fix when a server refused the connection for a reason retrying cannot
    cure (credentials, certificates, TLS on one side only); None for anything else
    (no server yet, a connection lost)."""
    text = str(exc).lower()
    if isinstance(exc, PlaintextServerError):
        return (
            "NATS: the server offers no TLS, but TLS is configured (bus.tls_ca_file or a "
            "tls:// URL in bus.servers); no credentials were sent to it: enable TLS on the "
            "server's client port, or check bus.servers"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or text
        if "mismatch" in reason.lower():
            return (
                f"NATS: the server's certificate is not for the host name or address in "
                f"bus.servers ({reason}): name the server in bus.servers as its "
                "certificate does"
            )
        if "expired" in reason.lower() or "not yet valid" in reason.lower():
            return (
                f"NATS: the server's certificate is out of its validity period ({reason}): "
                "renew it on the server, or check both clocks"
            )
        trusted = (
            f"bus.tls_ca_file {str(config.tls_ca_file)!r}"
            if config.tls_ca_file is not None
            else "the system's CAs (no bus.tls_ca_file)"
        )
        return (
            f"NATS: the server's certificate does not verify against {trusted} "
            f"({reason}): set bus.tls_ca_file to the CA that signed the servers' certificates"
        )
    if isinstance(exc, ssl.SSLError):
        if "handshake failure" in text:
            return (
                f"NATS: the server refused the TLS handshake ({exc.reason or exc}): it may want "
                "a client certificate (bus.tls_cert_file and bus.tls_key_file) or TLS "
                "versions and ciphers this client does not offer"
            )
        if any(
            alert in text for alert in ("bad certificate", "certificate required", "unknown ca")
        ):
            if config.tls_cert_file is None:
                return (
                    f"NATS: the server refused the TLS connection ({exc.reason or exc}); it "
                    "wants a client certificate: set bus.tls_cert_file and bus.tls_key_file"
                )
            return (
                f"NATS: the server refused the client certificate ({exc.reason or exc}): "
                "check bus.tls_cert_file and bus.tls_key_file (signed by a CA the server "
                "trusts, not expired)"
            )
        if "wrong version number" in text or "record layer" in text:
            return (
                f"NATS: the server does not speak TLS ({exc.reason or exc}): use nats:// "
                "URLs and no bus.tls_* settings, or enable TLS on the server"
            )
        return None
    if "tls required" in text or "no ssl context" in text:
        return "NATS: the server requires TLS: set bus.tls_ca_file (or use tls:// URLs)"
    if isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text:
        return _credentials_advice(config, "authorization violation")
    if "authentication expired" in text or "authentication revoked" in text:
        return _credentials_advice(config, "the credentials expired or were revoked")
    return None


def _credentials_advice(config: BusConfig, what: str) -> str:
    if config.username is not None:
        check = f"check bus.username ({config.username!r}) and {ENV_PASSWORD}"
    elif config.token is not None:
        check = f"check {ENV_TOKEN}"
    elif config.creds_file is not None:
        check = f"check bus.creds_file ({str(config.creds_file)!r}): its user and account"
    else:
        return (
            f"NATS: the server wants credentials ({what}): set bus.username and "
            f"{ENV_PASSWORD}, or {ENV_TOKEN}, or bus.creds_file"
        )
    return f"NATS: the server refused the credentials ({what}): {check}"


class NatsBus:
    """A worker's link to JetStream: pulls batches, publishes verdicts, acknowledges.

    ``deliver`` is called on the bus thread for every batch pulled; at most
    ``max_outstanding`` batches are held (pulled, not yet settled) at a time, so none
    waits in the worker's queue long enough to be delivered again elsewhere.
    """

    def __init__(
        self,
        config: BusConfig,
        topics: Topics,
        *,
        name: str,
        deliver: Callable[[Inbound], None],
        max_outstanding: int,
    ) -> None:
        self.config = config
        self.topics = topics
        self.name = name
        self.ready = threading.Event()  # the consumer is bound: batches flow
        self.connected = threading.Event()
        # Set when the stream or consumer cannot be used; the worker stops and says why.
        self.failure: str | None = None
        self._deliver = deliver
        self._max_outstanding = max_outstanding
        self._outstanding = 0  # read and written on the loop only
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="verifier-nats", daemon=True)
        # Bound to the loop on first use (Python 3.10+), so made here: stop() may come
        # before the loop runs.
        self._stopping = asyncio.Event()
        self._room = asyncio.Event()
        self._nc: NatsClient | None = None
        # Pulled and not yet settled, by id(): given back (nak) when the worker stops.
        self._held: dict[int, Msg] = {}
        self._last_warning = -math.inf

    # -- the processing thread's side ---------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def settle(self, verdicts: Sequence[tuple[str, bytes]], delivered: Sequence[Inbound]) -> None:
        """Publish ``verdicts`` (topic, payload), then acknowledge ``delivered``.

        Call only once their verdicts are committed. A verdict or acknowledgement that
        cannot be written (no server for a long while) is logged, not raised: the
        batch is delivered again and answered as a duplicate.
        """
        future = asyncio.run_coroutine_threadsafe(self._settle(verdicts, delivered), self._loop)
        try:
            future.result(SETTLE_TIMEOUT_S)
        except FutureTimeout:
            log.warning(
                "NATS: %d verdict(s) and %d acknowledgement(s) not written within %.0f s; "
                "the batches will be delivered again and answered as duplicates",
                len(verdicts),
                len(delivered),
                SETTLE_TIMEOUT_S,
            )

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish one message (a resend request) from any thread; waits until written."""
        self.settle([(topic, payload)], [])

    def stop(self, timeout: float = 10.0) -> None:
        """Give back what was pulled and not settled (nak: redelivered 1.5 s later), close."""
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("NATS: the bus thread did not stop within %.0f s", timeout)

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception as exc:  # a defect: say so, and let the worker stop
            log.exception("NATS: the bus thread failed")
            self.failure = f"the NATS bus thread failed: {exc}"
        finally:
            self._loop.close()

    def _warn(self, message: str, *args: object) -> None:
        # Reconnects and leader elections produce a burst of errors; one line a minute.
        now = time.monotonic()
        if now - self._last_warning >= 60.0:
            self._last_warning = now
            log.warning(message, *args)

    async def _main(self) -> None:
        nc = await self._connect()
        if nc is None:
            return
        self._nc = nc
        try:
            js = nc.jetstream(timeout=5.0)
            subscription = await self._bind(js)
            if subscription is not None:
                self.ready.set()
                await self._pull(subscription)
        finally:
            self.ready.clear()
            # Flush (the acknowledgements and naks just written), then close. Not drain():
            # it waits for the pull inbox's queue, which nobody reads any more.
            try:
                await nc.flush(timeout=2)
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:  # closing anyway
                log.info("NATS: flushing before closing: %s", exc)
            await nc.close()
            self.connected.clear()

    async def _connect(self) -> NatsClient | None:
        """Connect (retrying while no server answers); None when stopping or refused."""
        try:
            tls = tls_context(self.config)
        except BusStartError as exc:
            self.failure = str(exc)
            return None
        if self.config.creds_file is not None and importlib.util.find_spec("nkeys") is None:
            self.failure = (
                "NATS: bus.creds_file needs the nkeys package (it signs the server's "
                "challenge with the file's seed): pip install nkeys"
            )
            return None
        refused: list[str] = []  # what to fix, from error() below
        stop_trying = asyncio.Event()
        connected_once = False

        async def disconnected() -> None:
            self.connected.clear()
            if not self._stopping.is_set() and connected_once:
                log.warning("NATS: lost the server; reconnecting to one of %s", self.config.servers)

        async def reconnected() -> None:
            self.connected.set()
            log.info("NATS: reconnected to %s", self._server_name())

        async def error(exc: Exception) -> None:
            advice = refusal(exc, self.config)
            if not connected_once:
                if advice is not None:
                    refused.append(advice)
                    stop_trying.set()
                else:
                    self._warn(
                        "NATS: cannot connect to any of %s (%s); retrying (check bus.servers)",
                        self.config.servers,
                        exc or type(exc).__name__,
                    )
                return
            self._warn("NATS: %s%s", exc or type(exc).__name__, f" ({advice})" if advice else "")

        options: dict[str, Any] = dict(
            servers=list(self.config.servers),
            name=self.name,
            # Never give up: a server that is not up yet, or a cluster being restarted.
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
            **auth_options(self.config),
        )
        if tls is not None:
            options["tls"] = tls
        nc = GuardedClient(require_tls=self.config.tls)
        # nats-py retries inside connect() (max_reconnect_attempts=-1) and reports every
        # failed attempt to error(): it returns once connected, and is cancelled on a
        # refusal or a stop.
        connecting = asyncio.ensure_future(nc.connect(**options))
        waits = [asyncio.ensure_future(e.wait()) for e in (stop_trying, self._stopping)]
        await asyncio.wait({connecting, *waits}, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
            connected_once = True
            self._nc = nc
            self.connected.set()
            log.info("NATS: connected to %s (%s)", self._server_name(), self._security())
            return nc
        connecting.cancel()
        try:
            await connecting
        except asyncio.CancelledError:
            pass
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:  # an option it refuses
            refused.append(f"NATS: cannot connect to {self.config.servers}: {exc}")
        if refused and not self._stopping.is_set():
            self.failure = refused[0]
        try:
            await nc.close()
        except (nats.errors.Error, OSError) as exc:
            log.debug("NATS: closing a connection that never opened: %s", exc)
        return None

    def _security(self) -> str:
        tls = "TLS" if self.config.tls else "no TLS"
        return f"{tls}, {self.config.auth}"

    def _server_name(self) -> str:
        url = self._nc.connected_url if self._nc is not None else None
        return url.netloc if url is not None else "?"

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _bind(self, js: JetStreamContext) -> JetStreamContext.PullSubscription | None:
        """Create the stream and the consumer when missing, then bind to the consumer.

        Retried while JetStream is not ready (no leader yet); a stream or consumer that
        cannot serve our batches stops the worker with ``failure`` set.
        """
        while not self._stopping.is_set():
            try:
                await self._ensure_stream(js)
                await self._ensure_consumer(js)
                return await js.pull_subscribe_bind(self.config.durable, stream=self.config.stream)
            except BusStartError as exc:
                self.failure = str(exc)
                return None
            except (nats.errors.Error, asyncio.TimeoutError) as exc:
                self._warn("NATS: JetStream is not ready (%s); retrying", exc or type(exc).__name__)
                await self._sleep(RETRY_S)
        return None

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        cfg = self.config
        batch = cfg.batch_subject(self.topics)
        try:
            info = await js.stream_info(cfg.stream)
        except nats.js.errors.NotFoundError:
            subjects = list(cfg.stream_subjects(self.topics))
            try:
                info = await js.add_stream(
                    StreamConfig(
                        name=cfg.stream,
                        subjects=subjects,
                        retention=RetentionPolicy.WORK_QUEUE,
                        storage=StorageType.FILE,
                        num_replicas=cfg.replicas,
                    )
                )
            except (nats.js.errors.BadRequestError, nats.js.errors.ServerError) as exc:
                # Refused for good (400, 500); 503 (no leader yet) is retried by _bind.
                raise BusStartError(
                    f"NATS: cannot create stream {cfg.stream!r} for {subjects} with "
                    f"{cfg.replicas} replica(s): {exc.description}; {_stream_advice(exc)}"
                ) from None
            log.info("NATS: created stream %s for %s", cfg.stream, info.config.subjects)
        subjects = info.config.subjects or []
        if not any(subject_matches(s, batch) for s in subjects):
            raise BusStartError(
                f"NATS: stream {cfg.stream!r} holds {subjects}, not the batches' subject "
                f"{batch!r}; add it to the stream or name another bus.stream"
            )
        replicas = info.config.num_replicas or 1
        if replicas != cfg.replicas:
            log.warning(
                "NATS: stream %s has %d replica(s), bus.replicas says %d; the stream's own "
                "setting holds (change it with 'nats stream edit')",
                cfg.stream,
                replicas,
                cfg.replicas,
            )

    async def _ensure_consumer(self, js: JetStreamContext) -> None:
        cfg = self.config
        batch = cfg.batch_subject(self.topics)
        try:
            info = await js.consumer_info(cfg.stream, cfg.durable)
        except nats.js.errors.NotFoundError:
            info = await self._add_consumer(js, batch)
            log.info("NATS: created durable consumer %s on %s", cfg.durable, batch)
        self._check_consumer(info.config, batch)

    async def _add_consumer(self, js: JetStreamContext, batch: str) -> ConsumerInfo:
        cfg = self.config
        try:
            return await js.add_consumer(
                cfg.stream,
                ConsumerConfig(
                    name=cfg.durable,
                    durable_name=cfg.durable,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=cfg.ack_wait_s,
                    max_deliver=-1,
                    max_ack_pending=MAX_ACK_PENDING,
                    filter_subject=batch,
                ),
            )
        except (nats.js.errors.BadRequestError, nats.js.errors.ServerError) as exc:
            raise BusStartError(
                f"NATS: cannot create consumer {cfg.durable!r} on stream {cfg.stream!r}: "
                f"{exc.description}; name another bus.durable, or fix the stream"
            ) from None

    def _check_consumer(self, consumer: ConsumerConfig, batch: str) -> None:
        cfg = self.config
        if consumer.deliver_subject:
            raise BusStartError(
                f"NATS: consumer {cfg.durable!r} of stream {cfg.stream!r} is a push consumer; "
                "the verifier pulls: delete it or name another bus.durable"
            )
        if consumer.ack_policy != AckPolicy.EXPLICIT:
            raise BusStartError(
                f"NATS: consumer {cfg.durable!r} does not acknowledge explicitly "
                f"({consumer.ack_policy}); a batch would count as done before its verdict "
                "is stored: delete it or name another bus.durable"
            )
        if consumer.filter_subject and consumer.filter_subject != batch:
            raise BusStartError(
                f"NATS: consumer {cfg.durable!r} takes {consumer.filter_subject!r}, not the "
                f"batches' subject {batch!r}: name another bus.durable"
            )
        if consumer.ack_wait is not None and not math.isclose(consumer.ack_wait, cfg.ack_wait_s):
            log.warning(
                "NATS: consumer %s waits %.1f s for acknowledgements, bus.ack_wait_s says "
                "%.1f s; the consumer's own setting holds",
                cfg.durable,
                consumer.ack_wait,
                cfg.ack_wait_s,
            )

    async def _pull(self, subscription: JetStreamContext.PullSubscription) -> None:
        held = self._held
        while not self._stopping.is_set():
            room = self._max_outstanding - self._outstanding
            if room <= 0:
                self._room.clear()
                waiting = asyncio.ensure_future(self._room.wait())
                stopping = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stopping.cancel()
                continue
            try:
                messages = await subscription.fetch(room, timeout=FETCH_WAIT_S)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                continue  # nothing to do for now
            except nats.errors.Error as exc:
                # A reconnect or a consumer leader election: wait a little and pull again.
                self._warn("NATS: pulling batches failed (%s); retrying", exc or type(exc).__name__)
                await self._sleep(RETRY_S / 4)
                continue
            received = time.monotonic()
            for message in messages:
                topic = topic_of_subject(message.subject)
                deliveries = message.metadata.num_delivered or 1
                if deliveries > 1:
                    log.info(
                        "NATS: %s delivered again (delivery %d): a worker died or gave it "
                        "back before storing its verdict",
                        topic,
                        deliveries,
                    )
                self._outstanding += 1
                held[id(message)] = message
                self._deliver(Inbound(topic, message.data, received, message))
        await self._give_back()

    async def _give_back(self) -> None:
        """Stopping: what is pulled and not settled goes back to another worker soon,
        instead of after ack_wait."""
        held = list(self._held.values())
        given = 0
        for message in held:
            try:
                # Delayed: our last pull request may still be open on the server for
                # a moment (its expiry races the client's own timeout), and a batch
                # given back at once can be delivered straight into it, where nobody
                # reads it any more, until ack_wait. nats-server before 2.10.15 also
                # mishandles a redelivery into a request that has lost its interest
                # (nats-server#5305, #5338), so no unsubscribe either. Once the delay
                # is over our requests have expired: a live worker's request gets it.
                await message.nak(delay=GIVE_BACK_DELAY_S)
            except nats.errors.Error:
                break  # the connection is gone: ack_wait returns them
            given += 1
        if held:
            log.info("NATS: gave back %d unsettled batch(es)", given)
        if given < len(held):
            log.warning(
                "NATS: %d batch(es) not given back (the connection is gone); they are "
                "delivered again after bus.ack_wait_s (%.0f s)",
                len(held) - given,
                self.config.ack_wait_s,
            )

    async def _settle(
        self, verdicts: Sequence[tuple[str, bytes]], delivered: Sequence[Inbound]
    ) -> None:
        nc = self._nc
        if nc is None:
            return
        try:
            for topic, payload in verdicts:
                await nc.publish(subject_of_topic(topic), payload)
            for inbound in delivered:
                await _message(inbound).ack()
        except nats.errors.Error as exc:
            self._warn(
                "NATS: could not write verdicts or acknowledgements (%s); the batches will "
                "be delivered again and answered as duplicates",
                exc,
            )
        finally:
            for inbound in delivered:
                if self._held.pop(id(inbound.handle), None) is not None:
                    self._outstanding -= 1
            self._room.set()


def _message(inbound: Inbound) -> Msg:
    if not isinstance(inbound.handle, Msg):
        raise TypeError(f"not a NATS message: {inbound.handle!r}")
    return inbound.handle


def _stream_advice(exc: nats.js.errors.APIError) -> str:
    """What to change when nats-server refuses to create the stream."""
    text = (exc.description or "").lower()
    if "overlap" in text:
        return (
            "another stream captures these subjects already: name it in bus.stream, "
            "or set bus.subjects"
        )
    if "replica" in text or "peer" in text or "resources" in text:
        return "set bus.replicas to at most the number of JetStream servers (1 for a single server)"
    return "check the stream settings in [bus]"
