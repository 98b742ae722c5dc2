"""Reading -> canonical record -> Ed25519 signature (the gateway's key, via cryptography).

``SignedReading`` is what signing produces and what the outbox stores; it is defined
here, with the step that makes it, so the data path reads top to bottom:
reading -> signed reading (this module) -> outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edgeseal.agent.identity import GatewayKey
from edgeseal.wire.event import EventBody, EventRecord
from edgeseal.wire.record import RecordEncoder


class ReadingLike(Protocol):
    """What the signer needs from ``firmware_bridge.messages.Reading``."""

    @property
    def device_id(self) -> int: ...
    @property
    def boot_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def channel(self) -> int: ...
    @property
    def unit(self) -> int: ...
    @property
    def mantissa(self) -> int: ...
    @property
    def exponent(self) -> int: ...
    @property
    def time_kind(self) -> int: ...
    @property
    def device_time_ms(self) -> int: ...


@dataclass(frozen=True)
class SignedReading:
    """A reading ready for the outbox, with the device coordinates used for dedup."""

    device_id: int
    boot_id: int
    seq: int
    record: bytes
    signature: bytes
    time_us: int


@dataclass(frozen=True)
class SignedEvent:
    """A device or agent event ready for the outbox: sealed in order with the readings."""

    record: bytes
    signature: bytes
    time_us: int


SignedLeaf = SignedReading | SignedEvent


class RecordSigner:
    """Signs readings for one gateway with one key (a rotation makes a new signer)."""

    def __init__(self, gateway_id: str, key: GatewayKey) -> None:
        self.gateway_id = gateway_id
        self.key = key
        self._encoder = RecordEncoder(gateway_id)
        self._sign = key.private_key.sign

    def sign(self, reading: ReadingLike, gateway_time_us: int) -> SignedReading:
        record = self._encoder.encode(
            device_id=reading.device_id,
            boot_id=reading.boot_id,
            device_seq=reading.seq,
            channel=reading.channel,
            unit=reading.unit,
            mantissa=reading.mantissa,
            exponent=reading.exponent,
            time_kind=reading.time_kind,
            device_time_ms=reading.device_time_ms,
            gateway_time_us=gateway_time_us,
        )
        # The record starts with its context tag (ESR v1): the signature is
        # domain-separated from batch headers (ESB v1) signed by the same key.
        return SignedReading(
            device_id=reading.device_id,
            boot_id=reading.boot_id,
            seq=reading.seq,
            record=record,
            signature=self._sign(record),
            time_us=gateway_time_us,
        )

    def sign_event(self, body: EventBody, gateway_time_us: int) -> SignedEvent:
        record = EventRecord(self.gateway_id, gateway_time_us, body).encode()
        return SignedEvent(record=record, signature=self._sign(record), time_us=gateway_time_us)
