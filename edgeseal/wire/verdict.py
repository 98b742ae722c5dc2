"""Messages the verifier signs for the gateways: verdicts (this module) and resend
requests (``resend.py``), both in the same envelope.

A gateway forgets a sealed batch only on a verdict signed by the verifier's key
(``[verifier] public_key`` in the agent's configuration) that says "accepted" or
"duplicate" and names the batch by gateway id, seq and header hash. Anyone on the
broker can publish on a verdict topic, so the JSON fields are for people and tools
only; what counts is the ``signed`` bytes and their ``signature``.

Signed bytes of a verdict (docs/formats.md, "Signed verdict"), big-endian:
``"ESV" 0x01 | outcome u8 | gateway_id str8 | seq u64 | header_hash bytes[32] |
issued_us u64 | reason str8``.

Envelope (JSON object, UTF-8): any fields, plus ``"signed"`` (hex of the signed
bytes) and ``"signature"`` (hex of the 64-byte Ed25519 signature over them).
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from edgeseal.wire.record import FormatError, check_gateway_id, check_tag, decode_gateway_id

VERDICT_TAG = b"ESV\x01"
SIGNATURE_LEN = 64
_SEQ_HASH_TIME = struct.Struct(">Q32sQ")
_U64_MAX = 2**64 - 1


class EnvelopeError(ValueError):
    """A signed message that is malformed or whose signature does not verify."""


class VerdictOutcome(enum.IntEnum):
    """The outcome byte; the names are the JSON ``verdict`` values."""

    ACCEPTED = 1
    DUPLICATE = 2  # exact re-send of an accepted batch
    PENDING = 3  # held by the verifier until an earlier seq arrives
    QUARANTINED = 4

    @property
    def text(self) -> str:
        return self.name.lower()

    @classmethod
    def from_text(cls, text: str) -> VerdictOutcome:
        return cls[text.upper()]

    @property
    def acknowledges(self) -> bool:
        """True when the gateway may forget the batch."""
        return self in (VerdictOutcome.ACCEPTED, VerdictOutcome.DUPLICATE)


# Quarantine reasons that say "not now", not "never": the verifier had no room to hold
# the batch (``held_limit``) or it is too far ahead of the chain (``too_far_ahead``). The
# gateway keeps such a batch awaiting and re-sends it (timer, resend requests); any
# other quarantine reason stops re-sending until an operator looks.
RETRY_LATER_REASONS = frozenset({"held_limit", "too_far_ahead"})


def _reason_bytes(reason: str) -> bytes:
    raw = reason.encode("ascii")
    if len(raw) > 255:
        raise ValueError(f"reason is {len(raw)} bytes; str8 holds at most 255")
    return bytes((len(raw),)) + raw


@dataclass(frozen=True)
class SignedVerdict:
    """What the verifier vouches for about one batch."""

    outcome: VerdictOutcome
    gateway_id: str
    seq: int
    header_hash: bytes
    issued_us: int  # the verifier's wall clock, UNIX microseconds (for audits)
    reason: str = ""  # the quarantine or pending reason code (docs/verifier.md), or ""

    def signed_bytes(self) -> bytes:
        gw = check_gateway_id(self.gateway_id)
        if len(self.header_hash) != 32:
            raise ValueError("header_hash must be 32 bytes")
        if not (0 <= self.seq <= _U64_MAX and 0 <= self.issued_us <= _U64_MAX):
            raise ValueError("seq and issued_us are u64")
        return b"".join(
            (
                VERDICT_TAG,
                bytes((int(self.outcome), len(gw))),
                gw,
                _SEQ_HASH_TIME.pack(self.seq, self.header_hash, self.issued_us),
                _reason_bytes(self.reason),
            )
        )

    @classmethod
    def from_signed_bytes(cls, data: bytes) -> SignedVerdict:
        what = "signed verdict"
        check_tag(data, VERDICT_TAG, what)
        if len(data) < 5:
            raise FormatError(f"{what}: truncated in outcome")
        try:
            outcome = VerdictOutcome(data[4])
        except ValueError:
            raise FormatError(f"{what}: outcome {data[4]} is not 1..4") from None
        gateway_id, at = decode_gateway_id(data, 5, what)
        if len(data) < at + _SEQ_HASH_TIME.size + 1:
            raise FormatError(f"{what}: truncated in seq, header_hash, issued_us or reason")
        seq, digest, issued = _SEQ_HASH_TIME.unpack_from(data, at)
        at += _SEQ_HASH_TIME.size
        end = at + 1 + data[at]
        if end != len(data):
            raise FormatError(f"{what}: reason length {data[at]} does not end the message")
        try:
            reason = bytes(data[at + 1 : end]).decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"{what}: reason is not ASCII") from None
        return cls(outcome, gateway_id, seq, bytes(digest), issued, reason)


# --- the envelope, shared with resend.py ---------------------------------------------------


def seal_envelope(body: dict[str, Any], signed: bytes, key: Ed25519PrivateKey) -> bytes:
    """``body`` as JSON with ``signed`` and its Ed25519 ``signature`` (both hex) added."""
    full = {**body, "signed": signed.hex(), "signature": key.sign(signed).hex()}
    return json.dumps(full, separators=(",", ":"), sort_keys=True).encode("utf-8")


def open_envelope(payload: bytes, public_key: bytes) -> bytes:
    """The signed bytes of an envelope whose signature verifies under ``public_key``.

    Raises EnvelopeError (not JSON, fields missing, or a bad signature).
    """
    try:
        body = json.loads(payload)
        signed = bytes.fromhex(body["signed"])
        signature = bytes.fromhex(body["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"not a signed envelope: {exc}") from None
    if len(signature) != SIGNATURE_LEN:
        raise EnvelopeError(f"signature is {len(signature)} bytes, not {SIGNATURE_LEN}")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except InvalidSignature:
        raise EnvelopeError("signature does not verify under the configured verifier key") from None
    return signed


def sign_verdict(
    verdict: SignedVerdict, key: Ed25519PrivateKey, body: dict[str, Any] | None = None
) -> bytes:
    """The MQTT payload of a signed verdict; ``body``: the readable JSON fields."""
    readable = body if body is not None else {}
    return seal_envelope(readable, verdict.signed_bytes(), key)


def open_verdict(payload: bytes, public_key: bytes) -> SignedVerdict:
    """The verdict in a payload signed by ``public_key``; EnvelopeError or FormatError."""
    return SignedVerdict.from_signed_bytes(open_envelope(payload, public_key))
