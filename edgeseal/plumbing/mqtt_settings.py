"""How the agent and the verifier reach the MQTT broker: one settings type, one parser,
one way to apply the settings to a paho client.

The ``[mqtt]`` keys both sides share are read by ``parse_mqtt_settings``; each side
extends ``MqttSettings`` with its own keys (the agent's in-flight window, the
verifier's shared-subscription group) and passes its defaults in. Credentials can come
from the environment instead of the file (``EDGESEAL_MQTT_USERNAME``,
``EDGESEAL_MQTT_PASSWORD``), which then wins.

Topic names are not this layer's business: the caller passes the rule that checks a
topic prefix (``edgeseal.wire.topics.check_prefix``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edgeseal.plumbing.config_toml import ConfigError, Section

ENV_USERNAME = "EDGESEAL_MQTT_USERNAME"
ENV_PASSWORD = "EDGESEAL_MQTT_PASSWORD"
PROTOCOLS = ("5", "3.1.1")
# The [mqtt] keys parse_mqtt_settings reads; a side adds its own to the section.
MQTT_KEYS = frozenset(
    {
        "host",
        "port",
        "protocol",
        "client_id",
        "username",
        "password",
        "keepalive_s",
        "topic_prefix",
        "reconnect_min_s",
        "reconnect_max_s",
        "tls",
    }
)
TLS_KEYS = frozenset({"ca_file", "cert_file", "key_file"})


@dataclass(frozen=True)
class TlsSettings:
    """TLS to the broker: its certificate is checked against ``ca_file``."""

    ca_file: Path
    # A client certificate, for brokers that want one (both or neither).
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class MqttSettings:
    """The connection settings the agent and the verifier share."""

    host: str = "127.0.0.1"
    port: int = 1883
    protocol: str = "5"  # "5" or "3.1.1"
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive_s: int = 30
    topic_prefix: str
    # paho's reconnect backoff: doubles from min to max (whole seconds, at least 1).
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    tls: TlsSettings | None = None

    @property
    def v5(self) -> bool:
        return self.protocol == "5"

    @property
    def broker(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


S = TypeVar("S", bound=MqttSettings)


def parse_mqtt_settings(
    section: Section,
    defaults: S,
    *,
    env: Mapping[str, str],
    check_topic_prefix: Callable[[str], object],
) -> S:
    """``defaults`` with the shared keys of ``section`` applied, every value checked.

    ``defaults`` carries the side's own defaults (client id, reconnect bounds) and
    its own settings, already read. An empty ``client_id`` means the default one.
    ``check_topic_prefix`` raises ValueError for a prefix that cannot start a topic.
    """
    m = section
    protocol = m.get_choice("protocol", defaults.protocol, PROTOCOLS)
    host = m.get_str("host", defaults.host)
    if not host:
        raise ConfigError(f"{m.where('host')} must not be empty")
    prefix = m.get_str("topic_prefix", defaults.topic_prefix)
    try:
        check_topic_prefix(prefix)
    except ValueError as exc:
        raise ConfigError(f"{m.where('topic_prefix')}: {exc}") from None
    reconnect_min = m.get_float("reconnect_min_s", defaults.reconnect_min_s, 0.05, 3600.0)
    reconnect_max = m.get_float("reconnect_max_s", defaults.reconnect_max_s, 0.05, 3600.0)
    if reconnect_max < reconnect_min:
        raise ConfigError(f"{m.where('reconnect_max_s')} must be >= {m.where('reconnect_min_s')}")
    # The file's values are checked even when the environment overrides them.
    file_username, file_password = m.optional_str("username"), m.optional_str("password")
    username = env.get(ENV_USERNAME) or file_username or defaults.username
    password = env.get(ENV_PASSWORD) or file_password or defaults.password
    if password and not username:
        raise ConfigError(
            f"an MQTT password is set but no username ({m.where('username')} or {ENV_USERNAME})"
        )
    return replace(
        defaults,
        host=host,
        port=m.get_int("port", defaults.port, 1, 65535),
        protocol=protocol,
        client_id=m.get_str("client_id", "") or defaults.client_id,
        username=username or None,
        password=password or None,
        # MQTT's keep alive is a u16 number of seconds.
        keepalive_s=m.get_int("keepalive_s", defaults.keepalive_s, 5, 65535),
        topic_prefix=prefix,
        reconnect_min_s=reconnect_min,
        reconnect_max_s=reconnect_max,
        tls=_parse_tls(m) if "tls" in m else defaults.tls,
    )


def _parse_tls(mqtt_section: Section) -> TlsSettings:
    t = mqtt_section.table("tls", TLS_KEYS)
    ca = t.readable_file("ca_file", t.required_path("ca_file"))
    cert, key = t.optional_path("cert_file"), t.optional_path("key_file")
    if (cert is None) != (key is None):
        raise ConfigError(f"[{t.name}]: cert_file and key_file go together (a client certificate)")
    return TlsSettings(
        ca_file=ca,
        cert_file=None if cert is None else t.readable_file("cert_file", cert),
        key_file=None if key is None else t.readable_file("key_file", key),
    )


# --- paho ---------------------------------------------------------------------------


def configure_client(client: mqtt.Client, settings: MqttSettings) -> None:
    """Credentials, TLS and reconnect backoff of ``settings`` on a new paho client.

    Raises ConfigError when the TLS files cannot be loaded (not PEM, a key that does
    not match its certificate).
    """
    client.reconnect_delay_set(
        min_delay=max(1, round(settings.reconnect_min_s)),
        max_delay=max(1, round(settings.reconnect_max_s)),
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    tls = settings.tls
    if tls is not None:
        try:
            client.tls_set(
                ca_certs=str(tls.ca_file),
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (ssl.SSLError, OSError) as exc:  # not PEM, key does not match the certificate
            files = ", ".join(str(f) for f in (tls.ca_file, tls.cert_file, tls.key_file) if f)
            raise ConfigError(f"mqtt.tls: cannot use {files}: {exc}") from None


# CONNACK reason codes (MQTT 5; paho maps MQTT 3.1.1's return codes onto them) that
# retrying cannot cure: the configuration, or the broker's, must change first.
_UNSUPPORTED_PROTOCOL = 0x84
_CLIENT_ID_NOT_VALID = 0x85
_BAD_USERNAME_OR_PASSWORD = 0x86
_NOT_AUTHORIZED = 0x87
_BANNED = 0x8A
_BAD_AUTHENTICATION_METHOD = 0x8C
_PERMANENT = frozenset(
    {
        _UNSUPPORTED_PROTOCOL,
        _CLIENT_ID_NOT_VALID,
        _BAD_USERNAME_OR_PASSWORD,
        _NOT_AUTHORIZED,
        _BANNED,
        _BAD_AUTHENTICATION_METHOD,
    }
)


def refusal_is_permanent(reason: ReasonCode) -> bool:
    """True when the broker refused the connection for a reason a retry cannot fix."""
    return int(reason.value) in _PERMANENT


def describe_refusal(settings: MqttSettings, reason: ReasonCode) -> str:
    """One line for the operator: who refused, why, and which settings to check."""
    text = f"MQTT broker {settings.broker} refused the connection: {reason}"
    code = int(reason.value)
    if code in (_BAD_USERNAME_OR_PASSWORD, _NOT_AUTHORIZED, _BAD_AUTHENTICATION_METHOD):
        if settings.username is None:
            return (
                f"{text}; it wants credentials: set mqtt.username (or {ENV_USERNAME}) "
                f"and the password ({ENV_PASSWORD} or mqtt.password)"
            )
        return (
            f"{text}; check the credentials of user {settings.username!r}: the password "
            f"({ENV_PASSWORD} or mqtt.password), and the broker's ACL for this client"
        )
    if code == _CLIENT_ID_NOT_VALID:
        return f"{text}; check mqtt.client_id ({settings.client_id!r})"
    if code == _UNSUPPORTED_PROTOCOL:
        return f'{text}; check mqtt.protocol ("{settings.protocol}"; "5" or "3.1.1")'
    return text
