"""The verifier's configuration: one TOML file parsed once into typed, frozen objects.

Every mistake is reported with the TOML key that holds it, so an operator can fix
the file without reading this code; parsing and wording are the agent's too
(``edgeseal.plumbing.config_toml``), and so are the ``[mqtt]`` connection settings
(``edgeseal.plumbing.mqtt_settings``: broker, credentials, TLS, reconnect backoff).
The layout is documented in docs/verifier.md and shown in examples/verifier.toml.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeseal.plumbing.config_toml import ConfigError, Section, load_file
from edgeseal.plumbing.mqtt_settings import MQTT_KEYS, MqttSettings, parse_mqtt_settings
from edgeseal.plumbing.public_keys import parse_public_key
from edgeseal.verifier.bus_config import BUS_KEYS, BusConfig, parse_bus
from edgeseal.verifier.http_config import HTTP_KEYS, HttpConfig, parse_http
from edgeseal.verifier.limits import LIMIT_KEYS, StoreLimits, parse_limits
from edgeseal.verifier.log_config import LOG_KEYS, LogConfig, parse_log_config
from edgeseal.verifier.store_postgres import is_postgres_url, redacted
from edgeseal.wire.record import GATEWAY_ID_RE
from edgeseal.wire.topics import DEFAULT_PREFIX, TopicKind, Topics, check_prefix

__all__ = [
    "ConfigError",
    "HttpConfig",
    "MqttConfig",
    "SigningConfig",
    "StoreConfig",
    "VerifierConfig",
    "config_from_mapping",
    "load_config",
    "parse_public_key",
]

_SYNCHRONOUS = ("full", "normal")
_GROUP_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SECTIONS = ("mqtt", "store", "metrics", "gateways", "verifier", "limits", "http", "log", "bus")


@dataclass(frozen=True, kw_only=True)
class MqttConfig(MqttSettings):
    """The shared connection settings plus the verifier's own ``[mqtt]`` keys.

    "5" (the default protocol): shared subscriptions and session expiry. "3.1.1" for
    brokers that speak nothing newer: one worker only (group must be ""), persistent
    session.
    """

    client_id: str = "edgeseal-verifier"
    # The agents' mqtt.topic_prefix: both sides must use the same one.
    topic_prefix: str = DEFAULT_PREFIX
    reconnect_max_s: float = 10.0
    # Shared-subscription group; workers with the same group split the batches.
    # Empty: a plain subscription (every worker would see every batch).
    group: str = "verifiers"
    # How long the broker keeps this worker's session (and queues its batches) while
    # it is disconnected.
    session_expiry_s: int = 3600

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def batch_subscription(self) -> str:
        return self.topics.shared(self.group, TopicKind.BATCH)


@dataclass(frozen=True)
class StoreConfig:
    path: Path = Path("verifier.sqlite")
    # "full": a stored verdict survives power loss; "normal": survives a crash of the
    # process (SIGKILL) but the last commits may be lost on power loss (WAL mode).
    synchronous: str = "full"
    busy_timeout_s: float = 30.0
    # "postgresql://user@host:port/db": the store is that PostgreSQL database instead of
    # the SQLite file at path (store_postgres.py); "" (the default): SQLite.
    url: str = ""

    @property
    def location(self) -> Path | str:
        """What VerifierStore opens: the PostgreSQL URL if set, else the SQLite file."""
        return self.url or self.path

    @property
    def where(self) -> str:
        """The store as messages name it (never with a password)."""
        return redacted(self.url) if self.url else str(self.path)


@dataclass(frozen=True)
class SigningConfig:
    """``[verifier]``: the verifier's own key, which signs verdicts and resend requests."""

    # Ed25519 private key file (PKCS#8 PEM, mode 0600; `edgeseal keygen` writes one).
    # None: verdicts go out unsigned, and agents that wait for signed verdicts
    # (their [verifier] public_key) never forget a batch.
    key_path: Path | None = None
    # Ask a gateway to re-publish when its next seq has been missing this long while
    # later batches are held; repeated with doubling intervals up to resend_max_s.
    resend_after_s: float = 10.0
    resend_max_s: float = 300.0


@dataclass(frozen=True)
class VerifierConfig:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    # Prometheus endpoint on 127.0.0.1:<port>/metrics; 0 = none.
    metrics_port: int = 0
    # Enrolled gateways: gateway id -> the raw 32-byte Ed25519 public key given at
    # enrollment. Later keys come from signed rotations and live in the store.
    gateways: Mapping[str, bytes] = field(default_factory=dict)
    signing: SigningConfig = field(default_factory=SigningConfig)
    # Bounds on held and quarantined batches (verifier/limits.py).
    limits: StoreLimits = field(default_factory=StoreLimits)
    # The console, API and log over HTTP (verifier/http_config.py); off by default.
    http: HttpConfig = field(default_factory=HttpConfig)
    # The transparency log (verifier/log_config.py, docs/anchoring.md); off by default.
    log: LogConfig = field(default_factory=LogConfig)
    # Where batches come from: MQTT (default) or NATS JetStream (verifier/bus_config.py).
    bus: BusConfig = field(default_factory=BusConfig)


def config_from_mapping(
    data: Mapping[str, Any], base_dir: Path | None = None, *, env: Mapping[str, str] | None = None
) -> VerifierConfig:
    """Build the typed configuration from parsed TOML.

    Relative paths are taken from ``base_dir`` (None: left relative); ``env`` may give
    the MQTT and NATS credentials (``EDGESEAL_MQTT_USERNAME``, ``EDGESEAL_MQTT_PASSWORD``,
    ``EDGESEAL_NATS_PASSWORD``, ``EDGESEAL_NATS_TOKEN``).
    """
    top = Section.top(data, _SECTIONS, base=base_dir)

    m = top.table("mqtt", MQTT_KEYS | {"group", "session_expiry_s"})
    defaults = MqttConfig()
    own = MqttConfig(
        group=m.get_str("group", defaults.group),
        # MQTT 5 session expiry is a u32; 0xFFFFFFFF means "never expires".
        session_expiry_s=m.get_int("session_expiry_s", defaults.session_expiry_s, 0, 2**32 - 1),
    )
    mqtt = parse_mqtt_settings(m, own, env=env or {}, check_topic_prefix=check_prefix)
    if _CLIENT_ID_RE.fullmatch(mqtt.client_id) is None:
        raise ConfigError(
            f"mqtt.client_id {mqtt.client_id!r}: use 1 to 64 characters from A-Z a-z 0-9 _ . -"
        )
    if mqtt.group and _GROUP_RE.fullmatch(mqtt.group) is None:
        raise ConfigError(
            f'mqtt.group {mqtt.group!r}: use 1 to 64 characters from A-Z a-z 0-9 _ - (or "")'
        )
    if mqtt.protocol == "3.1.1" and mqtt.group:
        raise ConfigError(
            f'mqtt.group = {mqtt.group!r}: MQTT 3.1.1 has no shared subscriptions; set group = "" '
            'and run one worker, or use protocol "5"'
        )

    st = top.table("store", {"path", "synchronous", "busy_timeout_s", "url"})
    url = st.get_str("url", "")
    if url and not is_postgres_url(url):
        raise ConfigError(
            f"store.url = {redacted(url)!r}: only PostgreSQL URLs (postgresql://user@host/db) "
            "are supported; for SQLite set store.path instead"
        )
    store = StoreConfig(
        path=st.get_path("path", str(StoreConfig.path)),
        synchronous=st.get_choice(
            "synchronous", StoreConfig.synchronous, _SYNCHRONOUS, fold_case=True
        ),
        busy_timeout_s=st.get_float(
            "busy_timeout_s", StoreConfig.busy_timeout_s, 0, 3600, low_open=True
        ),
        url=url,
    )

    metrics_port = top.table("metrics", {"port"}).get_int("port", 0, 0, 65535)

    gateways: dict[str, bytes] = {}
    for gateway_id, key_text in top.table("gateways", None).data.items():
        if GATEWAY_ID_RE.fullmatch(gateway_id) is None:
            raise ConfigError(
                f"gateways.{gateway_id!r}: a gateway id is 1 to 64 characters from A-Z a-z 0-9 _ -"
            )
        gateways[gateway_id] = parse_public_key(key_text, f"gateways.{gateway_id}")
    v = top.table("verifier", {"key_path", "resend_after_s", "resend_max_s"})
    defaults_signing = SigningConfig()
    signing = SigningConfig(
        key_path=v.optional_path("key_path"),
        resend_after_s=v.get_float("resend_after_s", defaults_signing.resend_after_s, 0.1, 86400.0),
        resend_max_s=v.get_float("resend_max_s", defaults_signing.resend_max_s, 0.1, 86400.0),
    )
    if signing.resend_max_s < signing.resend_after_s:
        raise ConfigError("verifier.resend_max_s must be at least verifier.resend_after_s")
    limits = parse_limits(top.table("limits", LIMIT_KEYS))
    http = parse_http(top.table("http", HTTP_KEYS))
    log_config = parse_log_config(top.table("log", LOG_KEYS))
    bus = parse_bus(top.table("bus", BUS_KEYS), mqtt.topics, env=env or {})
    return VerifierConfig(
        mqtt=mqtt,
        store=store,
        metrics_port=metrics_port,
        gateways=gateways,
        signing=signing,
        limits=limits,
        http=http,
        log=log_config,
        bus=bus,
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> VerifierConfig:
    """Read and check a verifier.toml; raises ConfigError with the file and key at fault.

    ``env`` (default: the process environment) may give the MQTT credentials.
    """
    environment = os.environ if env is None else env
    return load_file(
        path, "verifier config", lambda data, base: config_from_mapping(data, base, env=environment)
    )
