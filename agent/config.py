"""The agent's configuration: one TOML file parsed once into frozen dataclasses.

Every value is checked here, so the rest of the agent never sees a bad one, and
every error names the key and says what would be accepted (the parsing and the
wording are the verifier's too: ``edgeseal.plumbing.config_toml``). The ``[mqtt]``
connection settings are shared with the verifier (``edgeseal.plumbing.mqtt_settings``),
including the secrets the environment can give instead of the file
(``EDGESEAL_MQTT_PASSWORD``, ``EDGESEAL_MQTT_USERNAME``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseal.plumbing.config_toml import ConfigError, Section, load_file
from edgeseal.plumbing.mqtt_settings import MQTT_KEYS, MqttSettings, parse_mqtt_settings
from edgeseal.plumbing.public_keys import parse_public_key
from edgeseal.wire.record import GATEWAY_ID_RE
from edgeseal.wire.topics import DEFAULT_PREFIX, Topics, check_prefix

__all__ = [
    "AgentConfig",
    "BatchPolicy",
    "ConfigError",
    "DevicesConfig",
    "GatewayConfig",
    "MqttConfig",
    "OutboxConfig",
    "SerialPortConfig",
    "VerifierLinkConfig",
    "load_config",
    "parse_config",
]


@dataclass(frozen=True)
class SerialPortConfig:
    path: str
    baudrate: int = 115200


@dataclass(frozen=True)
class GatewayConfig:
    id: str
    key_path: Path
    # Key rotation: when set, the next batch announces this key (signed by the old
    # one) and every later batch is signed with it.
    next_key_path: Path | None = None


@dataclass(frozen=True)
class DevicesConfig:
    # Per-device HMAC link keys (agent/linkkeys.py); listed devices must sign every frame.
    link_keys_path: Path | None = None


@dataclass(frozen=True)
class BatchPolicy:
    max_readings: int = 256
    max_delay_s: float = 2.0


ON_FULL_POLICIES = ("block", "drop-oldest")


@dataclass(frozen=True)
class OutboxConfig:
    path: Path
    max_bytes: int = 64 * 1024 * 1024
    # The oldest unsent item (unsealed reading or unacknowledged batch) may be at most
    # this old; 0: no age bound. Past it the outbox counts as full.
    max_age_s: float = 0.0
    # When full: "block" stops ACKing the devices (they keep their data); "drop-oldest"
    # keeps ACKing, pauses sealing and drops the oldest unsealed readings, each run
    # named by a signed loss notice (reason gateway_policy). Sealed batches are never
    # dropped: the chain stays whole.
    on_full: str = "block"


@dataclass(frozen=True)
class VerifierLinkConfig:
    """``[verifier]``: end-to-end acknowledgement by the verifier (docs/agent.md)."""

    # The verifier's raw Ed25519 public key. Set: a batch is forgotten only on a verdict
    # signed by this key saying "accepted" or "duplicate". None: legacy mode, a batch
    # is forgotten on the broker's PUBACK (and lost if nobody subscribed).
    public_key: bytes | None = None
    # Batches without a verdict are re-published after republish_min_s, the interval
    # doubling up to republish_max_s while no verdict acknowledges anything.
    republish_min_s: float = 5.0
    republish_max_s: float = 300.0
    # The broker keeps the agent's session (its verdict subscription) this long.
    session_expiry_s: int = 3600

    @property
    def end_to_end(self) -> bool:
        return self.public_key is not None


@dataclass(frozen=True, kw_only=True)
class MqttConfig(MqttSettings):
    """The shared connection settings plus the agent's own ``[mqtt]`` keys."""

    topic_prefix: str = DEFAULT_PREFIX
    max_inflight: int = 8  # batches awaiting PUBACK at once
    flush_timeout_s: float = 5.0  # on SIGTERM: how long to wait for outstanding PUBACKs

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)


@dataclass(frozen=True)
class AgentConfig:
    gateway: GatewayConfig
    serial: tuple[SerialPortConfig, ...]
    batch: BatchPolicy
    outbox: OutboxConfig
    mqtt: MqttConfig
    metrics_port: int = 0  # 0 = no metrics endpoint; it always binds 127.0.0.1
    devices: DevicesConfig = DevicesConfig()
    verifier: VerifierLinkConfig = VerifierLinkConfig()


# --- parsing: every getter names its key in errors (edgeseal.plumbing.config_toml) --------

_SECTIONS = ("gateway", "serial", "devices", "batch", "outbox", "mqtt", "metrics", "verifier")


def parse_config(data: Mapping[str, Any], *, base: Path, env: Mapping[str, str]) -> AgentConfig:
    """Build an AgentConfig from parsed TOML; relative paths are relative to ``base``."""
    top = Section.top(data, _SECTIONS, base=base)

    g = top.table("gateway", {"id", "key_path", "next_key_path"}, required=True)
    gateway_id = g.required_str("id")
    if GATEWAY_ID_RE.fullmatch(gateway_id) is None:
        raise ConfigError(
            f"gateway.id {gateway_id!r} is invalid: 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    gateway = GatewayConfig(
        gateway_id, g.required_path("key_path"), g.optional_path("next_key_path")
    )
    if gateway.next_key_path == gateway.key_path:
        raise ConfigError("gateway.next_key_path must differ from gateway.key_path")

    ports: list[SerialPortConfig] = []
    for s in top.tables("serial", {"path", "baudrate"}):
        path = s.required_str("path")
        if not path:
            raise ConfigError(f"{s.where('path')} must not be empty")
        ports.append(SerialPortConfig(path, s.get_int("baudrate", 115200, 300, 4_000_000)))
    if len({p.path for p in ports}) != len(ports):
        raise ConfigError("serial: the same port path is listed twice")

    b = top.table("batch", {"max_readings", "max_delay_s"})
    batch = BatchPolicy(
        max_readings=b.get_int("max_readings", 256, 1, 65535),
        max_delay_s=b.get_float("max_delay_s", 2.0, 0.001, 3600.0),
    )

    o = top.table("outbox", {"path", "max_bytes", "max_age_s", "on_full"}, required=True)
    outbox = OutboxConfig(
        o.required_path("path"),
        o.get_int("max_bytes", 64 * 1024 * 1024, 64 * 1024, 2**50),
        max_age_s=o.get_float("max_age_s", 0.0, 0.0, 10 * 365 * 86400.0),
        on_full=o.get_choice("on_full", "block", ON_FULL_POLICIES),
    )

    m = top.table("mqtt", MQTT_KEYS | {"max_inflight", "flush_timeout_s"})
    own = MqttConfig(
        client_id=f"edgeseal-agent-{gateway_id}",
        max_inflight=m.get_int("max_inflight", 8, 1, 1000),
        flush_timeout_s=m.get_float("flush_timeout_s", 5.0, 0.0, 600.0),
    )
    mqtt = parse_mqtt_settings(m, own, env=env, check_topic_prefix=check_prefix)

    devices = DevicesConfig(
        top.table("devices", {"link_keys_path"}).optional_path("link_keys_path")
    )

    x = top.table("metrics", {"port"})
    return AgentConfig(
        verifier=_verifier_link(top),
        gateway=gateway,
        serial=tuple(ports),
        batch=batch,
        outbox=outbox,
        mqtt=mqtt,
        metrics_port=x.get_int("port", 0, 0, 65535),
        devices=devices,
    )


def _verifier_link(top: Section) -> VerifierLinkConfig:
    v = top.table(
        "verifier", {"public_key", "republish_min_s", "republish_max_s", "session_expiry_s"}
    )
    d = VerifierLinkConfig()
    text = v.optional_str("public_key")
    public_key = parse_public_key(text, v.where("public_key")) if text else None
    link = VerifierLinkConfig(
        public_key=public_key,
        republish_min_s=v.get_float("republish_min_s", d.republish_min_s, 0.1, 86400.0),
        republish_max_s=v.get_float("republish_max_s", d.republish_max_s, 0.1, 86400.0),
        session_expiry_s=v.get_int("session_expiry_s", d.session_expiry_s, 0, 2**32 - 1),
    )
    if link.republish_max_s < link.republish_min_s:
        raise ConfigError("verifier.republish_max_s must be at least verifier.republish_min_s")
    return link


def load_config(path: Path, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and check the TOML file at ``path``; raises ConfigError with the reason."""
    environment = os.environ if env is None else env
    return load_file(
        path, "agent config", lambda data, base: parse_config(data, base=base, env=environment)
    )
