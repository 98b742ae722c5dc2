"""Forging RFC 3161 tokens with the local TSA's own key (the test holds it).

The anchor tests (check_evidence) and the receipt page's tests (the browser's checks)
forge the same way, so both see the same forgery: the token keeps a valid CMS signature
and only the property under test is wrong.
"""

from __future__ import annotations

import hashlib

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from edgeseal.testing.tsa import LocalTsa


def _tsa_key(tsa: LocalTsa) -> ec.EllipticCurvePrivateKey:
    assert tsa.certificates is not None
    key = serialization.load_pem_private_key(tsa.certificates.tsa_key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def client_auth_certificate(tsa: LocalTsa) -> bytes:
    """The TSA's certificate (same key, subject, issuer and serial) for client
    authentication instead of time stamping, as DER, signed with the TSA's key."""
    original = x509.load_pem_x509_certificate(tsa.tsa_pem)
    forged = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(original.serial_number)
        .not_valid_before(original.not_valid_before_utc)
        .not_valid_after(original.not_valid_after_utc)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .sign(_tsa_key(tsa), hashes.SHA256())
    )
    return forged.public_bytes(serialization.Encoding.DER)


def resigned_token(tsa: LocalTsa, token: bytes, cert_der: bytes, *, name_new_cert: bool) -> bytes:
    """The DER token carrying ``cert_der`` instead, its signed attributes signed again with
    the TSA's key. ``name_new_cert``: the ESS signing-certificate attribute names the new
    certificate (else it still names the old one)."""
    info = cms.ContentInfo.load(token)
    signed = info["content"]
    signed["certificates"] = [
        cms.CertificateChoices("certificate", asn1_x509.Certificate.load(cert_der))
    ]
    signer = signed["signer_infos"][0]
    attributes = []
    for attribute in signer["signed_attrs"]:
        if attribute["type"].native == "signing_certificate_v2" and name_new_cert:
            value = attribute["values"][0]
            value["certs"][0]["cert_hash"] = hashlib.sha256(cert_der).digest()
            attribute = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]})
        attributes.append(attribute)
    signer["signed_attrs"] = cms.CMSAttributes(attributes)
    # The signature covers the attributes as a SET OF (tag 0x31), not as the [0] field.
    to_sign = b"\x31" + signer["signed_attrs"].dump(force=True)[1:]
    signer["signature"] = _tsa_key(tsa).sign(to_sign, ec.ECDSA(hashes.SHA256()))
    return bytes(info.dump(force=True))
