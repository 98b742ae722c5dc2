"""Tokens forged with the TSA's own key: each of the offline checks catches its change.

These start from a real token of the local TSA and re-sign it with its key (which the test
holds), so the CMS signature stays valid and only the property under test is wrong.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from tsa_forgery import client_auth_certificate, resigned_token

from edgeseal.anchor.evidence import AnchorEvidence, check_evidence
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import Checkpoint

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


def _forged(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint, size: int, cert_der: bytes, name_new_cert: bool
) -> str | None:
    """What check_evidence says of a fresh token re-signed carrying ``cert_der``."""
    checkpoint, note = make_checkpoint(size)
    evidence = TsaAnchor(tsa.url).anchor(checkpoint, note)
    token = base64.b64decode(evidence.data["token"])
    forged = resigned_token(tsa, token, cert_der, name_new_cert=name_new_cert)
    data = {**evidence.data, "token": base64.b64encode(forged).decode()}
    return check_evidence(AnchorEvidence("rfc3161", data), checkpoint, note)


def test_resigning_alone_keeps_the_token_valid(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    # The forgery helper itself changes nothing that matters, so the refusals below
    # come from the property each one breaks.
    cert = x509.load_pem_x509_certificate(tsa.tsa_pem).public_bytes(serialization.Encoding.DER)
    assert _forged(tsa, make_checkpoint, 70, cert, name_new_cert=True) is None


def test_a_certificate_without_timestamping_is_refused(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    cert = client_auth_certificate(tsa)
    reason = _forged(tsa, make_checkpoint, 71, cert, name_new_cert=True)
    assert reason is not None and "not for time stamping" in reason


def test_a_swapped_certificate_is_refused(tsa: LocalTsa, make_checkpoint: MakeCheckpoint) -> None:
    cert = client_auth_certificate(tsa)
    reason = _forged(tsa, make_checkpoint, 72, cert, name_new_cert=False)
    assert reason is not None and "names another signing certificate" in reason
