"""``[bus]``: where the verifier takes its batches from (docs/verifier.md, docs/scaling.md).

``kind = "mqtt"`` (the default) is the MQTT 5 shared subscription of ``[mqtt]``.
``kind = "nats"`` consumes from a durable NATS JetStream consumer instead, while the
gateways keep publishing with MQTT to nats-server's MQTT listener: nats-server turns
the MQTT topic ``<prefix>/<gw>/batch`` into the NATS subject ``<prefix.>.<gw>.batch``
('/' becomes '.'), which a JetStream stream captures.

The connection to nats-server may use TLS (``tls_ca_file``, a client certificate) and
one way to log in: a user (``username`` and the password in ``EDGESEAL_NATS_PASSWORD``),
a token (``EDGESEAL_NATS_TOKEN``) or a decentralized-auth credentials file
(``creds_file``). Secrets come from the environment only, so they are never in the
file, in ``repr`` or in a log line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from edgeseal.plumbing.config_toml import ConfigError, Section
from edgeseal.wire.topics import TopicKind, Topics

BUS_KINDS = ("mqtt", "nats")
ENV_PASSWORD = "EDGESEAL_NATS_PASSWORD"
ENV_TOKEN = "EDGESEAL_NATS_TOKEN"
_TLS_KEYS = ("tls_ca_file", "tls_cert_file", "tls_key_file")
_AUTH_KEYS = ("username", "creds_file")
# "password" and "token" are known only to be refused with a message saying where
# the secret goes instead.
_SECRET_KEYS = ("password", "token")
BUS_KEYS = frozenset(
    {"kind", "servers", "stream", "durable", "subjects", "replicas", "ack_wait_s"}
    | set(_TLS_KEYS)
    | set(_AUTH_KEYS)
    | set(_SECRET_KEYS)
)
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_TLS_SCHEMES = ("tls", "wss")
# The lines nats-py looks for in a credentials file; without the JWT's it reads on
# past the end of the file for ever, so a file without them is refused at load.
_CREDS_MARKERS = ("BEGIN NATS USER JWT", "BEGIN USER NKEY SEED")
# A subject token: no separator, no wildcard inside it, no white space.
_TOKEN_RE = re.compile(r"[^.*>\s]+")


def subject_of_topic(topic: str) -> str:
    """The NATS subject nats-server gives an MQTT topic ('/' becomes '.').

    Our topics hold no '.', wildcard or empty level (the prefix and gateway id rules),
    so the mapping is one to one (see ``check_nats_prefix``).
    """
    return topic.replace("/", ".")


def topic_of_subject(subject: str) -> str:
    return subject.replace(".", "/")


def check_nats_prefix(prefix: str) -> None:
    """Raise ValueError if the MQTT topic prefix cannot cross nats-server unchanged."""
    for level in prefix.split("/"):
        if _TOKEN_RE.fullmatch(level) is None:
            raise ValueError(
                f"topic prefix {prefix!r}: with the NATS bus each level must be free of "
                "'.', '*', '>' and white space (nats-server maps '/' to '.')"
            )


def check_subject(subject: str, *, wildcards: bool = True) -> None:
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if wildcards and (token == "*" or (token == ">" and i == len(tokens) - 1)):
            continue
        if _TOKEN_RE.fullmatch(token) is None:
            raise ValueError(f"{subject!r} is not a NATS subject")


def subject_matches(filter_subject: str, subject: str) -> bool:
    """Whether the NATS subject filter (with '*' and '>') takes in ``subject``."""
    want, have = filter_subject.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True)
class BusConfig:
    kind: str = "mqtt"
    # NATS client URLs; the client moves to another one when its server goes away.
    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    # The JetStream stream that captures the batches (created, work-queue retention,
    # when missing) and the durable pull consumer every worker shares.
    stream: str = "EDGESEAL_BATCHES"
    durable: str = "verifiers"
    # The stream's subjects when the verifier creates it; () = the batch subject of
    # every gateway under mqtt.topic_prefix.
    subjects: tuple[str, ...] = ()
    # Copies of each message on distinct servers (1 for a single server, 3 for a
    # cluster that must survive the loss of one).
    replicas: int = 3
    # A delivered batch not acknowledged this long goes to another worker (a worker
    # that died holding it); longer than storing a whole group can take.
    ack_wait_s: float = 30.0
    # TLS: the servers' certificates are checked against tls_ca_file (None: the
    # system's CAs); a client certificate for servers that want one (both or neither).
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # At most one way to log in: a user and password, a token, or a credentials file.
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds_file: Path | None = None

    @property
    def nats(self) -> bool:
        return self.kind == "nats"

    @property
    def tls(self) -> bool:
        """TLS to every server: a CA is given, or a server URL says tls:// (or wss://)."""
        return self.tls_ca_file is not None or any(
            urlsplit(url).scheme in _TLS_SCHEMES for url in self.servers
        )

    @property
    def auth(self) -> str:
        """How the worker logs in, for messages: never the secret itself."""
        if self.username is not None:
            return f"user {self.username!r}"
        if self.token is not None:
            return f"the token in {ENV_TOKEN}"
        if self.creds_file is not None:
            return f"the credentials file {str(self.creds_file)!r}"
        return "no credentials"

    def batch_subject(self, topics: Topics) -> str:
        """The consumer's filter: every gateway's batches."""
        # MQTT's one-level wildcard '+' is NATS's '*'.
        return f"{subject_of_topic(topics.prefix)}.*.{TopicKind.BATCH.value}"

    def stream_subjects(self, topics: Topics) -> tuple[str, ...]:
        return self.subjects or (self.batch_subject(topics),)


def _servers(section: Section, default: tuple[str, ...]) -> tuple[str, ...]:
    value = section.data.get("servers", list(default))
    where = section.where("servers")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where} must be a list of URLs such as ["nats://host:4222"]')
    for url in value:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            # URLs are logged: a secret in one would be too. Nor is it echoed here.
            raise ConfigError(
                f"{where}: put no credentials in a server URL ({parts.scheme}://...@"
                f"{parts.hostname}): set bus.username and {ENV_PASSWORD}, or "
                f"{ENV_TOKEN}, or bus.creds_file"
            )
        if parts.scheme not in _NATS_SCHEMES or not parts.hostname:
            raise ConfigError(
                f"{where}: {url!r} is not a NATS URL (nats://host:port, tls://host:port)"
            )
    return tuple(value)


def _tls(section: Section, config: BusConfig) -> BusConfig:
    ca = section.optional_path("tls_ca_file")
    cert, key = section.optional_path("tls_cert_file"), section.optional_path("tls_key_file")
    if (cert is None) != (key is None):
        raise ConfigError(
            f"{section.where('tls_cert_file')} and {section.where('tls_key_file')} go "
            "together (a client certificate)"
        )
    config = replace(
        config,
        tls_ca_file=None if ca is None else section.readable_file("tls_ca_file", ca),
        tls_cert_file=None if cert is None else section.readable_file("tls_cert_file", cert),
        tls_key_file=None if key is None else section.readable_file("tls_key_file", key),
    )
    if cert is not None and not config.tls:
        raise ConfigError(
            f"{section.where('tls_cert_file')}: a client certificate needs TLS: set "
            "bus.tls_ca_file, or use tls:// URLs in bus.servers"
        )
    if config.tls:
        plain = [url for url in config.servers if urlsplit(url).scheme == "ws"]
        if plain:
            raise ConfigError(
                f"bus.servers {plain}: TLS is configured (bus.tls_ca_file or a tls:// URL) "
                "but ws:// is plain WebSocket: use wss://"
            )
    return config


def _auth(section: Section, config: BusConfig, env: Mapping[str, str]) -> BusConfig:
    for key in _SECRET_KEYS:
        if key in section:
            variable = ENV_PASSWORD if key == "password" else ENV_TOKEN
            raise ConfigError(
                f"{section.where(key)}: secrets are not kept in the configuration file; "
                f"give it in the environment variable {variable}"
            )
    username = section.optional_str("username")
    if username is not None and not username:
        raise ConfigError(f"{section.where('username')} must not be empty")
    password, token = env.get(ENV_PASSWORD) or None, env.get(ENV_TOKEN) or None
    creds = section.optional_path("creds_file")
    ways = [
        name
        for name, value in (
            ("bus.username", username),
            (ENV_TOKEN, token),
            ("bus.creds_file", creds),
        )
        if value is not None
    ]
    if len(ways) > 1:
        raise ConfigError(f"{' and '.join(ways)}: choose one way to log in to NATS")
    if username is not None and password is None:
        raise ConfigError(
            f"{section.where('username')} = {username!r}: give the password in the "
            f"environment variable {ENV_PASSWORD}"
        )
    if password is not None and username is None:
        raise ConfigError(f"{ENV_PASSWORD} is set but bus.username is not: set it too")
    if creds is not None:
        creds = section.readable_file("creds_file", creds)
        try:
            text = creds.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ConfigError(
                f"{section.where('creds_file')} = {str(creds)!r}: {exc.strerror}"
            ) from None
        missing = [marker for marker in _CREDS_MARKERS if marker not in text]
        if missing:
            raise ConfigError(
                f"{section.where('creds_file')} = {str(creds)!r} is not a NATS credentials "
                f"file (no {' and no '.join(missing)} line; 'nsc generate creds' writes one)"
            )
    return replace(config, username=username, password=password, token=token, creds_file=creds)


def _name(section: Section, key: str, default: str) -> str:
    value = section.get_str(key, default)
    if _NAME_RE.fullmatch(value) is None:
        raise ConfigError(
            f"{section.where(key)} {value!r}: use 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    return value


def parse_bus(
    section: Section, topics: Topics, *, env: Mapping[str, str] | None = None
) -> BusConfig:
    """``[bus]``, checked against the topic prefix the gateways publish under.

    ``env`` (default: the process environment) gives the secrets: ``EDGESEAL_NATS_PASSWORD``
    and ``EDGESEAL_NATS_TOKEN``; it is read only with ``kind = "nats"``.
    """
    d = BusConfig()
    kind = section.get_choice("kind", d.kind, BUS_KINDS, fold_case=True)
    if kind == "mqtt":
        others = set(section.data) - {"kind"}
        if others:
            raise ConfigError(f'[bus] {", ".join(sorted(others))}: only used with kind = "nats"')
        return d
    try:
        check_nats_prefix(topics.prefix)
    except ValueError as exc:
        raise ConfigError(f"mqtt.topic_prefix: {exc}") from None
    config = BusConfig(
        kind=kind,
        servers=_servers(section, d.servers),
        stream=_name(section, "stream", d.stream),
        durable=_name(section, "durable", d.durable),
        replicas=section.get_int("replicas", d.replicas, 1, 5),
        ack_wait_s=section.get_float("ack_wait_s", d.ack_wait_s, 1.0, 3600.0),
    )
    subjects = section.data.get("subjects", [])
    if not isinstance(subjects, list) or not all(isinstance(s, str) for s in subjects):
        raise ConfigError(f"{section.where('subjects')} must be a list of NATS subjects")
    for subject in subjects:
        try:
            check_subject(subject)
        except ValueError as exc:
            raise ConfigError(f"{section.where('subjects')}: {exc}") from None
    batch = config.batch_subject(topics)
    if subjects and not any(subject_matches(s, batch) for s in subjects):
        raise ConfigError(
            f"{section.where('subjects')} {subjects}: none takes in the batches' "
            f"subject {batch!r} (mqtt.topic_prefix {topics.prefix!r})"
        )
    config = replace(config, subjects=tuple(subjects))
    config = _tls(section, config)
    return _auth(section, config, os.environ if env is None else env)
