"""RFC 3161 anchor: a Time-Stamping Authority timestamps each checkpoint's note text.

The anchor sends a TimeStampReq (RFC 3161 section 2.4.1) over HTTP (section 3.4) for the
SHA-256 of the checkpoint body, and keeps the TimeStampToken of the reply as evidence.
Requests are built, and tokens chained to a CA, with ``rfc3161-client`` (Trail of Bits,
used by sigstore); the offline checks read the token with ``asn1crypto`` and verify the
CMS signature (RFC 5652 section 5.4) with ``cryptography``, because they must work with no
CA at all: from the certificate the token carries.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import cms, tsp  # tsp registers the TSTInfo content type with cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from edgeseal.anchor.evidence import AnchorError, AnchorEvidence, AnchorTrust, checkpoint_body

if TYPE_CHECKING:
    from edgeseal.tlog.checkpoint import Checkpoint

log = logging.getLogger(__name__)

KIND = "rfc3161"
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# A reply is a token of a few KiB (one certificate, maybe a chain); refuse anything huge.
MAX_REPLY = 256 * 1024
_HASHES: dict[str, tuple[HashAlgorithm, Any]] = {
    "sha256": (HashAlgorithm.SHA256, hashlib.sha256),
    "sha512": (HashAlgorithm.SHA512, hashlib.sha512),
}
_CMS_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def _load_pems(items: Sequence[str | Path | bytes]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for item in items:
        data = item if isinstance(item, bytes) else Path(item).read_bytes()
        certs.extend(x509.load_pem_x509_certificates(data))
    return certs


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def token_as_response(token: bytes) -> bytes:
    """A TimeStampResp (status granted) around a bare TimeStampToken, for parsers that
    only read replies (RFC 3161 section 2.4.2)."""
    content = b"\x30\x03\x02\x01\x00" + token
    return b"\x30" + _der_length(len(content)) + content


def _gen_time_text(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TsaAnchor:
    """Timestamps checkpoint bodies at the TSA at ``url`` (http or https).

    ``ca_certs`` (PEM files or bytes): when given, every reply must chain to one of them
    before it is accepted as evidence.
    """

    kind = KIND

    def __init__(
        self,
        url: str,
        *,
        hash: str = "sha256",
        ca_certs: Sequence[str | Path | bytes] = (),
        timeout_s: float = 10.0,
    ) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"TSA URL must be http:// or https://, not {url!r}")
        if hash not in _HASHES:
            raise ValueError(f"TSA hash must be one of {sorted(_HASHES)}, not {hash!r}")
        self.url = url
        self.hash = hash
        self.timeout_s = timeout_s
        self.ca_pems = tuple(c.public_bytes(Encoding.PEM) for c in _load_pems(ca_certs))

    def timestamp(self, data: bytes) -> tuple[bytes, bytes]:
        """(TimeStampToken DER, digest): the TSA's token for the hash of ``data``."""
        algorithm, hasher = _HASHES[self.hash]
        request = TimestampRequestBuilder().data(data).hash_algorithm(algorithm).build()
        http = urllib.request.Request(
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout_s) as reply:
                body = reply.read(MAX_REPLY + 1)
        except urllib.error.HTTPError as e:
            raise AnchorError(f"TSA {self.url} answered HTTP {e.code}: {e.reason}") from e
        except (urllib.error.URLError, OSError) as e:
            raise AnchorError(f"TSA {self.url} could not be reached: {e}") from e
        if len(body) > MAX_REPLY:
            raise AnchorError(f"TSA {self.url} sent a reply larger than {MAX_REPLY} bytes")
        try:
            response = decode_timestamp_response(body)
        except ValueError as e:
            raise AnchorError(f"TSA {self.url} sent a reply that is not RFC 3161: {e}") from e
        if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise AnchorError(
                f"TSA {self.url} refused the request (status {response.status}:"
                f" {'; '.join(response.status_string)})"
            )
        digest: bytes = hasher(data).digest()
        # A reply for another request (replayed or mixed up) is not evidence of ours.
        if response.tst_info.nonce != request.nonce:
            raise AnchorError(f"TSA {self.url} answered with another request's nonce")
        if response.tst_info.message_imprint.message != digest:
            raise AnchorError(f"TSA {self.url} timestamped another hash than the one sent")
        return response.time_stamp_token(), digest

    def anchor(self, checkpoint: Checkpoint, note: bytes) -> AnchorEvidence:
        body = checkpoint_body(checkpoint)
        token, digest = self.timestamp(body)
        info = read_token(token)
        if isinstance(info, str):
            raise AnchorError(f"TSA {self.url}: {info}")
        evidence = AnchorEvidence(
            KIND,
            {
                "token": base64.b64encode(token).decode("ascii"),
                "hash": self.hash,
                "digest": digest.hex(),
                "tsa_url": self.url,
                "gen_time": _gen_time_text(info.gen_time),
            },
        )
        trust = AnchorTrust(tsa_roots=self.ca_pems) if self.ca_pems else None
        problem = check_tsa_evidence(evidence, checkpoint, online=False, trust=trust)
        if problem is not None:
            raise AnchorError(f"TSA {self.url}: {problem}")
        log.debug("TSA %s timestamped %s size %d", self.url, checkpoint.origin, checkpoint.size)
        return evidence


@dataclass(frozen=True)
class TokenInfo:
    """What the offline check read from a TimeStampToken whose signature verified."""

    hash: str
    digest: bytes
    gen_time: datetime.datetime
    certificate: x509.Certificate


def read_token(token: bytes) -> TokenInfo | str:
    """The token's imprint and time if its CMS signature verifies with the certificate it
    carries, and that certificate may timestamp; otherwise the reason it does not."""
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            return "the TSA token is not CMS SignedData"
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            return "the TSA token does not carry a TSTInfo (RFC 3161 section 2.4.2)"
        tst_der: bytes = encap["content"].contents
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        imprint = tst["message_imprint"]
        hash_name = str(imprint["hash_algorithm"]["algorithm"].native)
        digest = bytes(imprint["hashed_message"].native)
        gen_time = tst["gen_time"].native
        signers = list(signed["signer_infos"])
        if len(signers) != 1:
            return f"the TSA token has {len(signers)} signers, not one"
        signer = signers[0]
        certificate = _signer_certificate(signed, signer)
        if isinstance(certificate, str):
            return certificate
        problem = _signature_problem(signer, tst_der, certificate)
    except (ValueError, TypeError, KeyError) as e:
        return f"the TSA token is not a well-formed RFC 3161 token: {e}"
    if problem is not None:
        return problem
    problem = _certificate_problem(certificate, gen_time)
    if problem is not None:
        return problem
    return TokenInfo(hash_name, digest, gen_time, certificate)


def _signer_certificate(signed: Any, signer: Any) -> x509.Certificate | str:
    sid = signer["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        candidate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                candidate.issuer == wanted["issuer"]
                and candidate.serial_number == wanted["serial_number"].native
            ):
                return x509.load_der_x509_certificate(candidate.dump())
        elif candidate.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(candidate.dump())
    return "the TSA token does not carry the certificate that signed it"


def _signature_problem(signer: Any, tst_der: bytes, certificate: x509.Certificate) -> str | None:
    digest_name = str(signer["digest_algorithm"]["algorithm"].native)
    algorithm = _CMS_HASHES.get(digest_name)
    if algorithm is None:
        return f"the TSA token is signed with an unsupported digest {digest_name}"
    attributes = signer["signed_attrs"]
    if not attributes:
        return "the TSA token has no signed attributes (RFC 5652 section 5.3)"
    values = {str(a["type"].native): a["values"] for a in attributes}
    if "content_type" not in values or values["content_type"][0].native != "tst_info":
        return "the TSA token's signed content type is not TSTInfo"
    hasher = hashes.Hash(algorithm)
    hasher.update(tst_der)
    if "message_digest" not in values or values["message_digest"][0].native != hasher.finalize():
        return "the TSA token's signature does not cover its TSTInfo (message digest differs)"
    problem = _ess_problem(values, certificate)
    if problem is not None:
        return problem
    # RFC 5652 section 5.4: the signature is over the DER of the signed attributes with
    # an explicit SET OF tag, not the [0] IMPLICIT tag they carry in the SignerInfo.
    signed_bytes = b"\x31" + attributes.dump()[1:]
    signature = bytes(signer["signature"].native)
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            if signer["signature_algorithm"].signature_algo == "rsassa_pss":
                pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
                key.verify(signature, signed_bytes, pss, algorithm)
            else:
                key.verify(signature, signed_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed_bytes)
        else:
            return f"the TSA certificate has an unsupported key type {type(key).__name__}"
    except InvalidSignature:
        return "the TSA token's signature does not verify with the certificate it carries"
    return None


def _ess_problem(values: dict[str, Any], certificate: x509.Certificate) -> str | None:
    # RFC 3161 section 2.4.2 / RFC 5035: the signer binds the certificate it used.
    der = certificate.public_bytes(Encoding.DER)
    if "signing_certificate_v2" in values:
        cert_id = values["signing_certificate_v2"][0]["certs"][0]
        name = str(cert_id["hash_algorithm"]["algorithm"].native)
        expected = hashlib.new(name, der).digest()
    elif "signing_certificate" in values:
        cert_id = values["signing_certificate"][0]["certs"][0]
        expected = hashlib.sha1(der).digest()
    else:
        return "the TSA token does not name its signing certificate (ESS, RFC 3161 section 2.4.2)"
    if bytes(cert_id["cert_hash"].native) != expected:
        return "the TSA token names another signing certificate than the one it carries"
    return None


def _certificate_problem(certificate: x509.Certificate, when: datetime.datetime) -> str | None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "the TSA certificate has no extended key usage (RFC 3161 section 2.3)"
    if not eku.critical or x509.oid.ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        return (
            "the TSA certificate is not for time stamping (RFC 3161 section 2.3: critical"
            " extended key usage id-kp-timeStamping)"
        )
    if not certificate.not_valid_before_utc <= when <= certificate.not_valid_after_utc:
        return f"the TSA certificate was not valid at the token's time {when.isoformat()}"
    return None


def check_tsa_evidence(
    evidence: AnchorEvidence,
    checkpoint: Checkpoint,
    *,
    online: bool = False,
    trust: AnchorTrust | None = None,
) -> str | None:
    """None if the RFC 3161 evidence timestamps this checkpoint's body; else the reason."""
    data = evidence.data
    try:
        encoded = str(data["token"])
        if len(encoded) > MAX_REPLY * 4 // 3 + 4:
            raise ValueError(f"the token is larger than {MAX_REPLY} bytes")
        token = base64.b64decode(encoded, validate=True)
        hash_name = str(data["hash"])
        claimed = bytes.fromhex(str(data["digest"]))
        gen_time_text = str(data["gen_time"])
    except (KeyError, binascii.Error, ValueError) as e:
        return f"the rfc3161 evidence is malformed: {e}"
    if hash_name not in _HASHES:
        return f"the rfc3161 evidence uses an unsupported hash {hash_name!r}"
    body_digest: bytes = _HASHES[hash_name][1](checkpoint_body(checkpoint)).digest()
    if claimed != body_digest:
        return (
            f"the rfc3161 evidence is for {hash_name} {claimed.hex()}, not this checkpoint's"
            f" body ({body_digest.hex()})"
        )
    info = read_token(token)
    if isinstance(info, str):
        return info
    if info.hash != hash_name or info.digest != body_digest:
        return (
            f"the TSA token timestamps {info.hash} {info.digest.hex()}, not this checkpoint's"
            f" body ({hash_name} {body_digest.hex()})"
        )
    if _gen_time_text(info.gen_time) != gen_time_text:
        return f"the evidence's gen_time {gen_time_text} is not the token's"
    roots = trust.tsa_roots if trust is not None else ()
    if not roots:
        if online:
            return "an online check of a TSA token needs the TSA's CA certificates (trust)"
        return None
    try:
        verifier = VerifierBuilder(roots=_load_pems(roots)).build()
        verifier.verify(decode_timestamp_response(token_as_response(token)), body_digest)
    except (VerificationError, ValueError) as e:
        return f"the TSA token does not chain to a trusted TSA CA: {e}"
    return None
