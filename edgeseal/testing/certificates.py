"""X.509 building blocks for the private PKIs the test harnesses make (a TLS broker's CA
and certificates, a Time-Stamping Authority's CA and signing certificate)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def common_name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def key_usage(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """A KeyUsage with the named bits set; the encipherment and agreement bits stay off
    (every key here is an ECDSA signing key)."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    valid: tuple[dt.datetime, dt.datetime],
) -> x509.CertificateBuilder:
    """Subject, issuer, public key, a random serial and the validity: what every
    certificate needs before its extensions."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
    )


def ca_certificate(
    name: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    valid: tuple[dt.datetime, dt.datetime],
    *,
    path_length: int | None = None,
    digital_signature: bool = False,
) -> x509.Certificate:
    """A self-signed CA: critical BasicConstraints and KeyUsage (certificate and CRL
    signing), and its key identifier for the certificates it issues."""
    usage = key_usage(digital_signature=digital_signature, key_cert_sign=True, crl_sign=True)
    return (
        builder(name, name, key, valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
