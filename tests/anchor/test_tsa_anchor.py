"""RFC 3161 anchor against a real TSA (openssl ts -reply on loopback)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from rfc3161_client import PKIStatus, decode_timestamp_response

from edgeseal.anchor.evidence import (
    AnchorError,
    AnchorEvidence,
    AnchorTrust,
    EvidenceError,
    check_evidence,
)
from edgeseal.anchor.tsa import TsaAnchor, read_token
from edgeseal.testing.broker import free_port
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import Checkpoint

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


def _anchor(tsa: LocalTsa) -> TsaAnchor:
    return TsaAnchor(tsa.url, ca_certs=[tsa.ca_pem])


def _with_token(evidence: AnchorEvidence, token: bytes) -> AnchorEvidence:
    return AnchorEvidence(
        evidence.kind, {**evidence.data, "token": base64.b64encode(token).decode()}
    )


def test_round_trip_checks_offline_with_trust_and_online(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    checkpoint, note = make_checkpoint(10)
    evidence = _anchor(tsa).anchor(checkpoint, note)
    data = evidence.to_json()
    assert data["kind"] == "rfc3161" and data["version"] == 1
    assert data["hash"] == "sha256" and data["tsa_url"] == tsa.url
    assert data["digest"] == hashlib.sha256(checkpoint.body().encode()).hexdigest()
    again = AnchorEvidence.from_json(data)
    trust = AnchorTrust(tsa_roots=(tsa.ca_pem,))
    assert check_evidence(again, checkpoint, note) is None
    assert check_evidence(again, checkpoint, note, trust=trust) is None
    assert check_evidence(again, checkpoint, note, online=True, trust=trust) is None
    token = base64.b64decode(data["token"])
    info = read_token(token)
    assert not isinstance(info, str) and info.digest.hex() == data["digest"]


def test_sha512_tokens_check_too(tsa: LocalTsa, make_checkpoint: MakeCheckpoint) -> None:
    checkpoint, note = make_checkpoint(11)
    evidence = TsaAnchor(tsa.url, hash="sha512", ca_certs=[tsa.ca_pem]).anchor(checkpoint, note)
    assert len(bytes.fromhex(evidence.data["digest"])) == 64
    trust = AnchorTrust(tsa_roots=(tsa.ca_pem,))
    assert check_evidence(evidence, checkpoint, note, online=True, trust=trust) is None


def test_a_token_for_another_hash_is_refused(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    anchored, anchored_note = make_checkpoint(20)
    other, other_note = make_checkpoint(21)
    evidence = _anchor(tsa).anchor(anchored, anchored_note)
    # The evidence as it is, shown for another checkpoint.
    reason = check_evidence(evidence, other, other_note)
    assert reason is not None and "not this checkpoint's body" in reason
    # The evidence rewritten to claim the other checkpoint's hash: the token still says no.
    claimed = hashlib.sha256(other.body().encode()).hexdigest()
    forged = AnchorEvidence("rfc3161", {**evidence.data, "digest": claimed})
    reason = check_evidence(forged, other, other_note)
    assert reason is not None and reason.startswith("the TSA token timestamps sha256")


def test_a_tampered_token_is_refused(tsa: LocalTsa, make_checkpoint: MakeCheckpoint) -> None:
    checkpoint, note = make_checkpoint(30)
    evidence = _anchor(tsa).anchor(checkpoint, note)
    token = base64.b64decode(evidence.data["token"])
    gen_time = evidence.data["gen_time"][:4].encode()  # the year, inside the TSTInfo
    at = token.index(b"\x18\x0f" + gen_time) + 2  # GeneralizedTime, 15 characters
    later_year = token[:at] + str(int(gen_time) + 1).encode() + token[at + 4 :]
    reason = check_evidence(_with_token(evidence, later_year), checkpoint, note)
    assert reason is not None and "does not cover its TSTInfo" in reason
    flipped_signature = token[:-3] + bytes([token[-3] ^ 1]) + token[-2:]
    reason = check_evidence(_with_token(evidence, flipped_signature), checkpoint, note)
    assert reason is not None and "signature" in reason
    reason = check_evidence(_with_token(evidence, token[:-10]), checkpoint, note)
    assert reason is not None and "not a well-formed RFC 3161 token" in reason
    garbage = AnchorEvidence("rfc3161", {**evidence.data, "token": "not base64!"})
    assert "malformed" in (check_evidence(garbage, checkpoint, note) or "")


def test_a_tsa_of_an_untrusted_ca_is_refused_online(make_checkpoint: MakeCheckpoint) -> None:
    checkpoint, note = make_checkpoint(40)
    with LocalTsa() as trusted, LocalTsa() as rogue:
        evidence = TsaAnchor(rogue.url).anchor(checkpoint, note)
        # Offline, the token is sound: signed by the certificate it carries.
        assert check_evidence(evidence, checkpoint, note) is None
        trust = AnchorTrust(tsa_roots=(trusted.ca_pem,))
        reason = check_evidence(evidence, checkpoint, note, online=True, trust=trust)
        assert reason is not None and "does not chain to a trusted TSA CA" in reason
        reason = check_evidence(evidence, checkpoint, note, online=True)
        assert reason is not None and "needs the TSA's CA certificates" in reason
        # An anchor configured with the trusted CA does not take the rogue's reply.
        with pytest.raises(AnchorError, match="does not chain"):
            TsaAnchor(rogue.url, ca_certs=[trusted.ca_pem]).anchor(checkpoint, note)


def test_evidence_for_another_note_is_refused(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    checkpoint, note = make_checkpoint(50)
    evidence = _anchor(tsa).anchor(checkpoint, note)
    _, other_note = make_checkpoint(51)
    assert check_evidence(evidence, checkpoint, other_note) == (
        "the signed note does not carry this checkpoint's text"
    )


def test_unreachable_or_wrong_tsa_is_a_clear_error(make_checkpoint: MakeCheckpoint) -> None:
    checkpoint, note = make_checkpoint(60)
    with pytest.raises(AnchorError, match="could not be reached"):
        TsaAnchor(f"http://127.0.0.1:{free_port()}/").anchor(checkpoint, note)
    with pytest.raises(ValueError, match="http"):
        TsaAnchor("file:///etc/passwd")
    with pytest.raises(ValueError, match="hash"):
        TsaAnchor("http://127.0.0.1/", hash="md5")


def test_the_local_tsa_refuses_what_is_not_a_query(tsa: LocalTsa) -> None:
    # RFC 3161 section 2.4.2: a bad request gets a TimeStampResp with status rejection (2).
    query = {"Content-Type": "application/timestamp-query"}
    request = urllib.request.Request(tsa.url, data=b"hello", headers=query)
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.headers["Content-Type"] == "application/timestamp-reply"
        assert decode_timestamp_response(reply.read()).status == PKIStatus.REJECTION
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(tsa.url, data=b"hello", headers=form)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 415


def test_evidence_json_is_checked_on_load() -> None:
    with pytest.raises(EvidenceError, match="kind"):
        AnchorEvidence.from_json({"kind": "blockchain", "version": 1})
    with pytest.raises(EvidenceError, match="version"):
        AnchorEvidence.from_json({"kind": "rfc3161", "version": 2})
    evidence = AnchorEvidence("evm", {"size": 3})
    assert AnchorEvidence.from_json(evidence.to_json()) == evidence
    assert dataclasses.replace(evidence, kind="x").kind == "x"


def test_hostile_rfc3161_fields_are_refused_with_a_reason(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    checkpoint, note = make_checkpoint(80)
    evidence = _anchor(tsa).anchor(checkpoint, note)
    cases = {
        "token": ("A" * 400_000, "larger than"),
        "hash": ("md5", "unsupported hash"),
        "digest": ("zz", "malformed"),
        "gen_time": ("2000-01-01T00:00:00.000000Z", "not the token's"),
    }
    for field, (value, expected) in cases.items():
        edited = AnchorEvidence("rfc3161", {**evidence.data, field: value})
        reason = check_evidence(edited, checkpoint, note)
        assert reason is not None and expected in reason, field
    missing = AnchorEvidence("rfc3161", {k: v for k, v in evidence.data.items() if k != "token"})
    assert "malformed" in (check_evidence(missing, checkpoint, note) or "")
