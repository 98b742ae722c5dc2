"""Tokens forged with the TSA's own key: each of the offline checks catches its change.

These start from a real token of the local TSA and re-sign it with its key (which the test
holds), so the CMS signature stays valid and only the property under test is wrong.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeseal.anchor.evidence import AnchorEvidence, check_evidence
from edgeseal.anchor.tsa import TsaAnchor
from edgeseal.testing.tsa import LocalTsa
from edgeseal.tlog.checkpoint import Checkpoint

MakeCheckpoint = Callable[..., tuple[Checkpoint, bytes]]


def _without_timestamping(tsa: LocalTsa) -> bytes:
    """The TSA's certificate (same key, issuer and serial) for client auth instead."""
    original = x509.load_pem_x509_certificate(tsa.tsa_pem)
    assert tsa.certificates is not None
    key = serialization.load_pem_private_key(tsa.certificates.tsa_key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    forged = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(original.serial_number)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return forged.public_bytes(serialization.Encoding.DER)


def _resigned(tsa: LocalTsa, token: bytes, cert_der: bytes, *, fix_ess: bool) -> bytes:
    """The token carrying ``cert_der`` instead, its signed attributes signed again."""
    assert tsa.certificates is not None
    key = serialization.load_pem_private_key(tsa.certificates.tsa_key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    info = cms.ContentInfo.load(token)
    signed = info["content"]
    signed["certificates"] = [
        cms.CertificateChoices("certificate", asn1_x509.Certificate.load(cert_der))
    ]
    signer = signed["signer_infos"][0]
    attributes = []
    for attribute in signer["signed_attrs"]:
        if attribute["type"].native == "signing_certificate_v2" and fix_ess:
            value = attribute["values"][0]
            value["certs"][0]["cert_hash"] = hashlib.sha256(cert_der).digest()
            attribute = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]})
        attributes.append(attribute)
    signer["signed_attrs"] = cms.CMSAttributes(attributes)
    to_sign = b"\x31" + signer["signed_attrs"].dump(force=True)[1:]
    signer["signature"] = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
    return bytes(info.dump(force=True))


def _evidence_with(evidence: AnchorEvidence, token: bytes) -> AnchorEvidence:
    return AnchorEvidence("rfc3161", {**evidence.data, "token": base64.b64encode(token).decode()})


def test_resigning_alone_keeps_the_token_valid(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    # The forgery helper itself changes nothing that matters, so the refusals below
    # come from the property each one breaks.
    checkpoint, note = make_checkpoint(70)
    evidence = TsaAnchor(tsa.url).anchor(checkpoint, note)
    token = base64.b64decode(evidence.data["token"])
    cert = x509.load_pem_x509_certificate(tsa.tsa_pem).public_bytes(serialization.Encoding.DER)
    same = _resigned(tsa, token, cert, fix_ess=True)
    assert check_evidence(_evidence_with(evidence, same), checkpoint, note) is None


def test_a_certificate_without_timestamping_is_refused(
    tsa: LocalTsa, make_checkpoint: MakeCheckpoint
) -> None:
    checkpoint, note = make_checkpoint(71)
    evidence = TsaAnchor(tsa.url).anchor(checkpoint, note)
    token = base64.b64decode(evidence.data["token"])
    forged = _resigned(tsa, token, _without_timestamping(tsa), fix_ess=True)
    reason = check_evidence(_evidence_with(evidence, forged), checkpoint, note)
    assert reason is not None and "not for time stamping" in reason


def test_a_swapped_certificate_is_refused(tsa: LocalTsa, make_checkpoint: MakeCheckpoint) -> None:
    checkpoint, note = make_checkpoint(72)
    evidence = TsaAnchor(tsa.url).anchor(checkpoint, note)
    token = base64.b64decode(evidence.data["token"])
    forged = _resigned(tsa, token, _without_timestamping(tsa), fix_ess=False)
    reason = check_evidence(_evidence_with(evidence, forged), checkpoint, note)
    assert reason is not None and "names another signing certificate" in reason
