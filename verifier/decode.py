"""MQTT message -> SealedBatch, or a precise reason why the bytes are not one.

Structure only (no crypto): the wire codec (``edgeseal.wire``) does the parsing,
this module adds what only the transport knows, the gateway named by the topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeseal.wire.batch import SealedBatch
from edgeseal.wire.record import FormatError
from edgeseal.wire.topics import TopicKind, Topics

# SQLite stores signed 64-bit integers; the chain's seq is kept as a plain INTEGER.
MAX_STORABLE_SEQ = 2**63 - 1


class MalformedBatch(ValueError):
    """The message is not a well-formed batch for the gateway its topic names."""

    def __init__(self, detail: str, topic_gateway: str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.topic_gateway = topic_gateway


@dataclass(frozen=True)
class DecodedBatch:
    sealed: SealedBatch
    gateway_id: str


def decode_batch(topics: Topics, topic: str, payload: bytes) -> DecodedBatch:
    """Parse ``payload`` received on ``topic``; raises MalformedBatch saying what is wrong."""
    topic_gateway = topics.gateway_of(topic, TopicKind.BATCH)
    if topic_gateway is None:
        raise MalformedBatch(f"topic {topic!r} is not {topics.prefix}/<gateway>/batch", None)
    try:
        sealed = SealedBatch.from_payload(payload)
    except FormatError as exc:
        raise MalformedBatch(str(exc), topic_gateway) from None
    header = sealed.header
    if header.gateway_id != topic_gateway:
        raise MalformedBatch(
            f"topic names gateway {topic_gateway!r} but the batch header says {header.gateway_id!r}",
            topic_gateway,
        )
    if header.seq > MAX_STORABLE_SEQ:
        raise MalformedBatch(f"batch header: seq {header.seq} exceeds 2^63-1", topic_gateway)
    return DecodedBatch(sealed, topic_gateway)
