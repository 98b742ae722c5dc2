"""MQTT topic names: the one module that builds and parses them, for every side.

Layout (docs/architecture.md): ``<prefix>/<gateway id>/<kind>``. The prefix is a
deployment setting (``mqtt.topic_prefix`` on the agent and the verifier alike,
default ``edgeseal/v1``); a gateway id is 1 to 64 characters from A-Z a-z 0-9 _ -,
so it can never hold a topic separator or an MQTT wildcard.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from edgeseal.wire.record import GATEWAY_ID_RE

DEFAULT_PREFIX = "edgeseal/v1"
_SHARE_GROUP_MAX = 64


class TopicError(ValueError):
    """A topic prefix, gateway id or share group that cannot make a valid topic."""


class TopicKind(str, enum.Enum):
    BATCH = "batch"  # agent -> verifier: a sealed batch (formats.md)
    STATUS = "status"  # agent (and its Last Will), retained: online / offline
    VERDICT = "verdict"  # verifier -> agent: one signed verdict per batch
    RESEND = "resend"  # verifier -> agent: signed request to re-publish a seq range


def check_prefix(prefix: str) -> str:
    """``prefix`` when it can start a topic; TopicError saying why it cannot."""
    if (
        not prefix
        or prefix.startswith(("/", "$"))
        or prefix.endswith("/")
        or "//" in prefix
        or any(c in prefix for c in "#+\x00")
    ):
        raise TopicError(
            f"topic prefix {prefix!r}: no wildcards (# +), no empty level, "
            "no leading '/' or '$', no trailing '/'"
        )
    return prefix


@dataclass(frozen=True)
class Topics:
    """The topics of one deployment (one prefix)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    def of(self, gateway_id: str, kind: TopicKind) -> str:
        if GATEWAY_ID_RE.fullmatch(gateway_id) is None:
            raise TopicError(f"gateway id {gateway_id!r}: 1 to 64 characters from A-Z a-z 0-9 _ -")
        return f"{self.prefix}/{gateway_id}/{kind.value}"

    def batch(self, gateway_id: str) -> str:
        return self.of(gateway_id, TopicKind.BATCH)

    def status(self, gateway_id: str) -> str:
        return self.of(gateway_id, TopicKind.STATUS)

    def verdict(self, gateway_id: str) -> str:
        return self.of(gateway_id, TopicKind.VERDICT)

    def resend(self, gateway_id: str) -> str:
        return self.of(gateway_id, TopicKind.RESEND)

    def every_gateway(self, kind: TopicKind) -> str:
        """The subscription filter for ``kind`` of every gateway."""
        return f"{self.prefix}/+/{kind.value}"

    def shared(self, group: str, kind: TopicKind) -> str:
        """An MQTT 5 shared subscription: the workers of ``group`` split the messages.

        An empty group gives the plain filter (every subscriber sees every message).
        """
        if not group:
            return self.every_gateway(kind)
        if len(group) > _SHARE_GROUP_MAX or GATEWAY_ID_RE.fullmatch(group) is None:
            raise TopicError(f"share group {group!r}: 1 to 64 characters from A-Z a-z 0-9 _ -")
        return f"$share/{group}/{self.every_gateway(kind)}"

    def parse(self, topic: str) -> tuple[str, TopicKind] | None:
        """(gateway id, kind) of a topic of this deployment, or None for any other topic."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        gateway_id, sep, kind_text = topic[len(head) :].partition("/")
        if not sep or GATEWAY_ID_RE.fullmatch(gateway_id) is None:
            return None
        try:
            return gateway_id, TopicKind(kind_text)
        except ValueError:
            return None

    def gateway_of(self, topic: str, kind: TopicKind) -> str | None:
        """The gateway id when ``topic`` is a ``kind`` topic of this deployment, else None."""
        parsed = self.parse(topic)
        return parsed[0] if parsed is not None and parsed[1] is kind else None
