"""``[bus]``: where the verifier takes its batches from (docs/verifier.md, docs/scaling.md).

``kind = "mqtt"`` (the default) is the MQTT 5 shared subscription of ``[mqtt]``.
``kind = "nats"`` consumes from a durable NATS JetStream consumer instead, while the
gateways keep publishing with MQTT to nats-server's MQTT listener: nats-server turns
the MQTT topic ``<prefix>/<gw>/batch`` into the NATS subject ``<prefix.>.<gw>.batch``
('/' becomes '.'), which a JetStream stream captures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from edgeseal.plumbing.config_toml import ConfigError, Section
from edgeseal.wire.topics import TopicKind, Topics

BUS_KINDS = ("mqtt", "nats")
BUS_KEYS = frozenset({"kind", "servers", "stream", "durable", "subjects", "replicas", "ack_wait_s"})
_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")
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

    @property
    def nats(self) -> bool:
        return self.kind == "nats"

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
        if parts.scheme not in _NATS_SCHEMES or not parts.hostname:
            raise ConfigError(
                f"{where}: {url!r} is not a NATS URL (nats://host:port, tls://host:port)"
            )
    return tuple(value)


def _name(section: Section, key: str, default: str) -> str:
    value = section.get_str(key, default)
    if _NAME_RE.fullmatch(value) is None:
        raise ConfigError(
            f"{section.where(key)} {value!r}: use 1 to 64 characters from A-Z a-z 0-9 _ -"
        )
    return value


def parse_bus(section: Section, topics: Topics) -> BusConfig:
    """``[bus]``, checked against the topic prefix the gateways publish under."""
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
    return replace(config, subjects=tuple(subjects))
