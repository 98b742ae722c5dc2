"""The signed verdict and resend request formats (docs/formats.md), byte by byte, and the
verifier's resend schedule (verifier/resend.py)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edgeseal.verifier.resend import UNFILLED_AFTER, ResendScheduler
from edgeseal.verifier.store import Gap
from edgeseal.wire.record import FormatError
from edgeseal.wire.resend import ResendRequest, open_resend_request
from edgeseal.wire.verdict import (
    EnvelopeError,
    SignedVerdict,
    VerdictOutcome,
    open_verdict,
    sign_verdict,
)

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
VERDICT = SignedVerdict(VerdictOutcome.QUARANTINED, "gw-1", 7, bytes(range(32)), 1234, "fork")


def test_signed_verdict_layout() -> None:
    expected = (
        b"ESV\x01"
        + b"\x04"
        + b"\x04gw-1"
        + (7).to_bytes(8, "big")
        + bytes(range(32))
        + (1234).to_bytes(8, "big")
        + b"\x04fork"
    )
    assert VERDICT.signed_bytes() == expected
    assert SignedVerdict.from_signed_bytes(expected) == VERDICT


def test_resend_request_layout() -> None:
    request = ResendRequest("gw-1", 3, 5, 99)
    expected = b"ESQ\x01\x04gw-1" + b"".join(n.to_bytes(8, "big") for n in (3, 5, 99))
    assert request.signed_bytes() == expected
    assert open_resend_request(request.to_payload(KEY), PUBLIC) == request


def test_envelope_round_trip_keeps_the_readable_fields() -> None:
    payload = sign_verdict(VERDICT, KEY, {"verdict": "quarantined", "detail": "x"})
    assert json.loads(payload)["verdict"] == "quarantined"
    assert open_verdict(payload, PUBLIC) == VERDICT


@pytest.mark.parametrize(
    "change",
    ["wrong-key", "signed-bit-flipped", "signature-bit-flipped", "no-signature", "not-json"],
)
def test_envelope_refused(change: str) -> None:
    payload = sign_verdict(VERDICT, KEY)
    body = json.loads(payload)
    key = PUBLIC
    if change == "wrong-key":
        key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    elif change == "signed-bit-flipped":
        signed = bytearray.fromhex(body["signed"])
        signed[5 + 5] ^= 1  # the seq
        body["signed"] = signed.hex()
    elif change == "signature-bit-flipped":
        sig = bytearray.fromhex(body["signature"])
        sig[0] ^= 1
        body["signature"] = sig.hex()
    elif change == "no-signature":
        del body["signature"]
    payload = b"{" if change == "not-json" else json.dumps(body).encode()
    with pytest.raises(EnvelopeError):
        open_verdict(payload, key)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("wrong-tag", b"ESX\x01" + VERDICT.signed_bytes()[4:]),
        ("outcome-0", VERDICT.signed_bytes()[:4] + b"\x00" + VERDICT.signed_bytes()[5:]),
        ("truncated", VERDICT.signed_bytes()[:-1]),
        ("trailing-garbage", VERDICT.signed_bytes() + b"\x00"),
    ],
)
def test_signed_verdict_malformed(name: str, data: bytes) -> None:
    with pytest.raises(FormatError):
        SignedVerdict.from_signed_bytes(data)


def gap(waiting_for: int, held: tuple[int, ...], received_us: int) -> Gap:
    return Gap("gw-1", waiting_for, len(held), held, received_us)


def test_resend_schedule_waits_backs_off_and_calls_a_gap_unfilled() -> None:
    s = ResendScheduler(after_s=2.0, max_s=5.0)
    now_us = 1_000_000_000
    g = [gap(4, (6, 7), now_us)]  # just opened
    assert s.due(g, now=0.0, now_us=now_us) == []
    assert s.due(g, now=1.9, now_us=now_us + 1_900_000) == []
    [r] = s.due(g, now=2.0, now_us=now_us + 2_000_000)
    assert (r.first_seq, r.last_seq) == (4, 5)
    assert s.due(g, now=5.9, now_us=now_us) == []  # next after 4 s
    assert len(s.due(g, now=6.0, now_us=now_us)) == 1
    t = 6.0
    for _ in range(UNFILLED_AFTER):
        t += 5.0  # capped at max_s
        assert len(s.due(g, now=t, now_us=now_us)) == 1
    assert "gw-1" in s.unfilled
    assert s.due([], now=t + 100, now_us=now_us) == []  # the gap closed
    assert s.unfilled == {}


def test_the_retry_later_reasons_are_verifier_reasons() -> None:
    # The agent re-sends on these; a renamed reason would silently turn them into
    # quarantines the gateway stops re-sending.
    from edgeseal.verifier.verdict import Reason
    from edgeseal.wire.verdict import RETRY_LATER_REASONS

    assert RETRY_LATER_REASONS == {Reason.HELD_LIMIT.value, Reason.TOO_FAR_AHEAD.value}
