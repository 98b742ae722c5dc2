"""The verifier's signed request that a gateway re-publish batches it still holds.

Published on ``<prefix>/<gw>/resend`` when the verifier holds later batches of a
gateway but the next seq has not arrived for ``verifier.resend_after_s``. Same
envelope as verdicts (``verdict.py``); signed bytes (docs/formats.md, "Resend
request"), big-endian: ``"ESQ" 0x01 | gateway_id str8 | first_seq u64 |
last_seq u64 | issued_us u64``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.wire.record import FormatError, check_gateway_id, check_tag, decode_gateway_id
from edgeseal.wire.verdict import open_envelope, seal_envelope

RESEND_TAG = b"ESQ\x01"
_RANGE_TIME = struct.Struct(">QQQ")


@dataclass(frozen=True)
class ResendRequest:
    gateway_id: str
    first_seq: int  # the first seq the verifier is waiting for
    last_seq: int  # the last missing seq (>= first_seq)
    issued_us: int  # the verifier's wall clock, UNIX microseconds

    def signed_bytes(self) -> bytes:
        gw = check_gateway_id(self.gateway_id)
        if not 1 <= self.first_seq <= self.last_seq < 2**64:
            raise ValueError(f"seq range {self.first_seq}..{self.last_seq} is empty or not u64")
        return (
            RESEND_TAG
            + bytes((len(gw),))
            + gw
            + _RANGE_TIME.pack(self.first_seq, self.last_seq, self.issued_us)
        )

    @classmethod
    def from_signed_bytes(cls, data: bytes) -> ResendRequest:
        what = "resend request"
        check_tag(data, RESEND_TAG, what)
        gateway_id, at = decode_gateway_id(data, len(RESEND_TAG), what)
        if len(data) != at + _RANGE_TIME.size:
            raise FormatError(
                f"{what}: {len(data) - at} bytes after gateway_id, expected {_RANGE_TIME.size}"
            )
        first, last, issued = _RANGE_TIME.unpack_from(data, at)
        if not 1 <= first <= last:
            raise FormatError(f"{what}: seq range {first}..{last} is empty")
        return cls(gateway_id, first, last, issued)

    def to_payload(self, key: Ed25519PrivateKey) -> bytes:
        body = {
            "gateway_id": self.gateway_id,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }
        return seal_envelope(body, self.signed_bytes(), key)


def open_resend_request(payload: bytes, public_key: bytes) -> ResendRequest:
    """The request in a payload signed by ``public_key``; EnvelopeError or FormatError."""
    return ResendRequest.from_signed_bytes(open_envelope(payload, public_key))
