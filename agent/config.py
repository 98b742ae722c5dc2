"""The agent's configuration: one TOML file parsed once into frozen dataclasses.

Every value is checked here, so the rest of the agent never sees a bad one, and
every error names the key and says what would be accepted. Secrets can come from
the environment instead of the file (``EDGESEAL_MQTT_PASSWORD``, ``EDGESEAL_MQTT_USERNAME``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeseal.wire.record import GATEWAY_ID_RE
from edgeseal.wire.topics import DEFAULT_PREFIX, TopicError, Topics, check_prefix

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

ENV_PASSWORD = "EDGESEAL_MQTT_PASSWORD"
ENV_USERNAME = "EDGESEAL_MQTT_USERNAME"


class ConfigError(ValueError):
    """The configuration file is missing, malformed or holds an unusable value."""


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


@dataclass(frozen=True)
class OutboxConfig:
    path: Path
    max_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class TlsConfig:
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    protocol: str = "5"  # "5" or "3.1.1"
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    topic_prefix: str = DEFAULT_PREFIX
    max_inflight: int = 8
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    flush_timeout_s: float = 5.0
    tls: TlsConfig | None = None

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


# --- helpers: each reads one key and names it in any error -----------------------------------


class _Section:
    def __init__(self, name: str, data: Any, known: set[str]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"[{name}] must be a table, got {type(data).__name__}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"[{name}] has unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        self.name = name
        self.data: Mapping[str, Any] = data

    def _where(self, key: str) -> str:
        return f"{self.name}.{key}"

    def get_str(
        self, key: str, default: str | None = None, *, required: bool = False
    ) -> str | None:
        if key not in self.data:
            if required:
                raise ConfigError(f"{self._where(key)} is required")
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise ConfigError(f"{self._where(key)} must be a string, got {value!r}")
        return value

    def get_int(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self._where(key)} must be an integer, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self._where(key)} = {value} is outside [{low}, {high}]")
        return value

    def get_float(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{self._where(key)} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(f"{self._where(key)} = {value} is outside [{low}, {high}]")
        return float(value)

    def get_path(self, key: str, base: Path, *, required: bool = False) -> Path | None:
        value = self.get_str(key, required=required)
        if value is None or value == "":
            if required:
                raise ConfigError(f"{self._where(key)} must not be empty")
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p


def _sub(
    data: Mapping[str, Any], name: str, known: set[str], *, required: bool = False
) -> _Section:
    if name not in data:
        if required:
            raise ConfigError(f"section [{name}] is missing")
        return _Section(name, {}, known)
    return _Section(name, data[name], known)


def parse_config(data: Mapping[str, Any], *, base: Path, env: Mapping[str, str]) -> AgentConfig:
    """Build an AgentConfig from parsed TOML; relative paths are relative to ``base``."""
    top_known = {"gateway", "serial", "devices", "batch", "outbox", "mqtt", "metrics"}
    unknown = sorted(set(data) - top_known)
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(unknown)}; known: {', '.join(sorted(top_known))}"
        )

    g = _sub(data, "gateway", {"id", "key_path", "next_key_path"}, required=True)
    gateway_id = g.get_str("id", required=True)
    assert gateway_id is not None
    if GATEWAY_ID_RE.fullmatch(gateway_id) is None:
        raise ConfigError(
            f"gateway.id {gateway_id!r} is invalid: 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    key_path = g.get_path("key_path", base, required=True)
    assert key_path is not None
    gateway = GatewayConfig(gateway_id, key_path, g.get_path("next_key_path", base))
    if gateway.next_key_path == gateway.key_path:
        raise ConfigError("gateway.next_key_path must differ from gateway.key_path")

    raw_ports = data.get("serial", [])
    if not isinstance(raw_ports, list):
        raise ConfigError('serial must be an array of tables: [[serial]] path = "/dev/ttyUSB0"')
    ports: list[SerialPortConfig] = []
    for i, raw in enumerate(raw_ports):
        s = _Section(f"serial[{i}]", raw, {"path", "baudrate"})
        path = s.get_str("path", required=True)
        assert path is not None
        if not path:
            raise ConfigError(f"serial[{i}].path must not be empty")
        ports.append(SerialPortConfig(path, s.get_int("baudrate", 115200, 300, 4_000_000)))
    if len({p.path for p in ports}) != len(ports):
        raise ConfigError("serial: the same port path is listed twice")

    b = _sub(data, "batch", {"max_readings", "max_delay_s"})
    batch = BatchPolicy(
        max_readings=b.get_int("max_readings", 256, 1, 65535),
        max_delay_s=b.get_float("max_delay_s", 2.0, 0.001, 3600.0),
    )

    o = _sub(data, "outbox", {"path", "max_bytes"}, required=True)
    outbox_path = o.get_path("path", base, required=True)
    assert outbox_path is not None
    outbox = OutboxConfig(outbox_path, o.get_int("max_bytes", 64 * 1024 * 1024, 64 * 1024, 2**50))

    m = _sub(
        data,
        "mqtt",
        {
            "host", "port", "protocol", "client_id", "username", "password", "keepalive_s",
            "topic_prefix", "max_inflight", "reconnect_min_s", "reconnect_max_s",
            "flush_timeout_s", "tls",
        },
    )  # fmt: skip
    protocol = m.get_str("protocol", "5")
    if protocol not in ("5", "3.1.1"):
        raise ConfigError(f'mqtt.protocol = {protocol!r}: use "5" or "3.1.1"')
    assert protocol is not None
    prefix = m.get_str("topic_prefix", DEFAULT_PREFIX)
    assert prefix is not None
    try:
        check_prefix(prefix)
    except TopicError as exc:
        raise ConfigError(f"mqtt.topic_prefix: {exc}") from None
    tls: TlsConfig | None = None
    if "tls" in m.data:
        t = _Section("mqtt.tls", m.data["tls"], {"ca_file", "cert_file", "key_file"})
        ca = t.get_path("ca_file", base, required=True)
        assert ca is not None
        cert, key = t.get_path("cert_file", base), t.get_path("key_file", base)
        if (cert is None) != (key is None):
            raise ConfigError("mqtt.tls: cert_file and key_file go together (client certificate)")
        for name, p in (("ca_file", ca), ("cert_file", cert), ("key_file", key)):
            if p is not None and not p.is_file():
                raise ConfigError(f"mqtt.tls.{name} = {str(p)!r} is not a readable file")
        tls = TlsConfig(ca, cert, key)
    username = env.get(ENV_USERNAME) or m.get_str("username")
    password = env.get(ENV_PASSWORD) or m.get_str("password")
    if password and not username:
        raise ConfigError(
            f"an MQTT password is set but no username (mqtt.username or {ENV_USERNAME})"
        )
    host = m.get_str("host", "127.0.0.1")
    assert host is not None
    if not host:
        raise ConfigError("mqtt.host must not be empty")
    reconnect_min = m.get_float("reconnect_min_s", 1.0, 0.05, 3600.0)
    reconnect_max = m.get_float("reconnect_max_s", 60.0, 0.05, 3600.0)
    if reconnect_max < reconnect_min:
        raise ConfigError("mqtt.reconnect_max_s must be >= mqtt.reconnect_min_s")
    client_id = m.get_str("client_id", "")
    assert client_id is not None
    mqtt = MqttConfig(
        host=host,
        port=m.get_int("port", 1883, 1, 65535),
        protocol=protocol,
        client_id=client_id or f"edgeseal-agent-{gateway_id}",
        username=username or None,
        password=password or None,
        keepalive_s=m.get_int("keepalive_s", 30, 5, 3600),
        topic_prefix=prefix,
        max_inflight=m.get_int("max_inflight", 8, 1, 1000),
        reconnect_min_s=reconnect_min,
        reconnect_max_s=reconnect_max,
        flush_timeout_s=m.get_float("flush_timeout_s", 5.0, 0.0, 600.0),
        tls=tls,
    )

    dv = _sub(data, "devices", {"link_keys_path"})
    devices = DevicesConfig(dv.get_path("link_keys_path", base))

    x = _sub(data, "metrics", {"port"})
    return AgentConfig(
        gateway=gateway,
        serial=tuple(ports),
        batch=batch,
        outbox=outbox,
        mqtt=mqtt,
        metrics_port=x.get_int("port", 0, 0, 65535),
        devices=devices,
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and check the TOML file at ``path``; raises ConfigError with the reason."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    try:
        return parse_config(
            data, base=path.resolve().parent, env=os.environ if env is None else env
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
