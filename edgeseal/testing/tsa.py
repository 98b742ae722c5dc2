"""A real RFC 3161 Time-Stamping Authority on loopback (test and demo scaffolding).

The replies are made by ``openssl ts -reply`` (OpenSSL's own TSA code), one process per
request, behind a tiny HTTP responder that speaks the RFC 3161 section 3.4 transport:
``POST`` of an ``application/timestamp-query``, answered with an
``application/timestamp-reply``. The CA and the TSA certificate are made here, in a
temporary directory, with ``cryptography``: the TSA certificate carries the critical
extended key usage id-kp-timeStamping that RFC 3161 section 2.3 requires.

Use it as a context manager::

    with LocalTsa() as tsa:
        anchor = TsaAnchor(tsa.url, ca_certs=[tsa.ca_pem])
"""

from __future__ import annotations

import datetime
import logging
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from edgeseal.testing import certificates
from edgeseal.testing.processes import Harness

log = logging.getLogger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# A DER TimeStampReq is ~60-100 bytes; anything far larger is not a query.
_MAX_QUERY = 16 * 1024
# The TSA policy its tokens carry (an OID arc for private tests, not a registered policy).
TEST_POLICY = "1.3.6.1.4.1.4146.2.3"


class TsaError(RuntimeError):
    """openssl is missing, or it refused to make a reply."""


@dataclass(frozen=True)
class TsaCertificates:
    """A CA and a TSA certificate it issued, as PEM, with the TSA's private key."""

    ca_pem: bytes
    tsa_pem: bytes
    tsa_key_pem: bytes


def make_certificates(
    common_name: str = "edgeseal test TSA", *, timestamping_eku: bool = True
) -> TsaCertificates:
    """A fresh CA and a TSA certificate (critical EKU id-kp-timeStamping) it signed.

    ``timestamping_eku=False`` issues a certificate for client authentication instead,
    so tests can show that tokens signed with it are refused.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = certificates.common_name(f"{common_name} CA")
    ca_cert = certificates.ca_certificate(ca_name, ca_key, valid, path_length=0)
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    purpose = (
        ExtendedKeyUsageOID.TIME_STAMPING if timestamping_eku else (ExtendedKeyUsageOID.CLIENT_AUTH)
    )
    tsa_cert = (
        certificates.builder(certificates.common_name(common_name), ca_name, tsa_key, valid)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            certificates.key_usage(digital_signature=True, content_commitment=True), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TsaCertificates(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        tsa_pem=tsa_cert.public_bytes(serialization.Encoding.PEM),
        tsa_key_pem=tsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _openssl_config(workdir: Path) -> str:
    # openssl's ts section (man ts, "CONFIGURATION FILE OPTIONS"); the serial file is
    # read and rewritten by every reply, hence the lock around each run. No "certs" line:
    # the token carries the TSA certificate alone, as most public TSAs do, and the CA comes
    # from the checker's trust (openssl writes a SET OF certificates in insertion order,
    # not DER order, which strict DER parsers such as rfc3161-client's refuse).
    return (
        "[ tsa ]\n"
        "default_tsa = edgeseal_tsa\n"
        "[ edgeseal_tsa ]\n"
        f"dir = {workdir}\n"
        "serial = $dir/serial\n"
        "crypto_device = builtin\n"
        "signer_cert = $dir/tsa.pem\n"
        "signer_key = $dir/tsa.key\n"
        "signer_digest = sha256\n"
        f"default_policy = {TEST_POLICY}\n"
        "digests = sha256, sha384, sha512\n"
        "accuracy = secs:1\n"
        "ordering = yes\n"
        "tsa_name = yes\n"
        "ess_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )


@dataclass
class LocalTsa(Harness):
    """An ``openssl ts`` TSA answering on ``http://127.0.0.1:<port>/``.

    ``certificates`` defaults to a fresh CA and TSA certificate; pass your own to run a
    TSA whose certificate lacks the time-stamping EKU, or two TSAs under one CA.
    """

    certificates: TsaCertificates | None = None
    host: str = "127.0.0.1"
    openssl: str | None = None
    workdir: Path | None = None
    requests_answered: int = field(default=0, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _own_workdir: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        if self._server is None:
            raise TsaError("the TSA is not running")
        return f"http://{self.host}:{self._server.server_address[1]}/"

    @property
    def ca_pem(self) -> bytes:
        assert self.certificates is not None
        return self.certificates.ca_pem

    @property
    def tsa_pem(self) -> bytes:
        assert self.certificates is not None
        return self.certificates.tsa_pem

    def start(self) -> None:
        if self._server is not None:
            return
        openssl = self.openssl or shutil.which("openssl")
        if openssl is None:
            raise TsaError("openssl not found on PATH (Debian: apt-get install openssl)")
        self.openssl = openssl
        if self.certificates is None:
            self.certificates = make_certificates()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="edgeseal-tsa-"))
            self._own_workdir = True
        work = self.workdir
        (work / "ca.pem").write_bytes(self.certificates.ca_pem)
        (work / "tsa.pem").write_bytes(self.certificates.tsa_pem)
        (work / "tsa.key").write_bytes(self.certificates.tsa_key_pem)
        (work / "tsa.key").chmod(0o600)
        (work / "serial").write_text("01\n")
        (work / "openssl.cnf").write_text(_openssl_config(work))
        self._server = ThreadingHTTPServer((self.host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="edgeseal-local-tsa", daemon=True
        )
        self._thread.start()
        log.info("local TSA listening on %s", self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._own_workdir = False

    def close(self) -> None:
        """The same as :meth:`stop`, which already deletes a work directory made here."""
        self.stop()

    def reply(self, query: bytes) -> bytes:
        """The DER TimeStampResp that openssl makes for a DER TimeStampReq."""
        assert self.workdir is not None and self.openssl is not None
        work = self.workdir
        with self._lock:
            (work / "query.tsq").write_bytes(query)
            done = subprocess.run(
                [
                    self.openssl,
                    "ts",
                    "-reply",
                    "-config",
                    str(work / "openssl.cnf"),
                    "-queryfile",
                    str(work / "query.tsq"),
                    "-out",
                    str(work / "reply.tsr"),
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode != 0:
                raise TsaError(
                    f"openssl ts -reply failed: {done.stderr.decode(errors='replace').strip()}"
                )
            self.requests_answered += 1
            return (work / "reply.tsr").read_bytes()


def _handler_for(tsa: LocalTsa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.headers.get("Content-Type", "").split(";")[0].strip() != QUERY_TYPE:
                self._plain(415, f"expected Content-Type {QUERY_TYPE}")
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self._plain(411, "Content-Length required")
                return
            if not 0 < length <= _MAX_QUERY:
                self._plain(413, "timestamp query too large or empty")
                return
            query = self.rfile.read(length)
            try:
                body = tsa.reply(query)
            except (TsaError, subprocess.TimeoutExpired) as e:
                log.warning("local TSA refused a query: %s", e)
                self._plain(400, str(e))
                return
            self.send_response(200)
            self.send_header("Content-Type", REPLY_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _plain(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("local TSA: " + format, *args)

    return Handler
