"""The verifier's HTTP server on a real socket: handler chain, request limits, TLS, and a
failing handler answered with a 500 that gives nothing away."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import urllib.request
from pathlib import Path

import pytest
from console_client import get
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edgeseal.verifier.http_server import HttpServer, HttpStartError, ServerLimits, tls_context
from edgeseal.verifier.http_types import HttpRequest, HttpResponse, text_response


def echo(request: HttpRequest) -> HttpResponse | None:
    if request.path.startswith("/echo"):
        return text_response(200, f"{request.method} {request.path} {dict(request.query)}")
    return None


def boom(request: HttpRequest) -> HttpResponse | None:
    if request.path == "/boom":
        raise RuntimeError("secret internals /var/lib/edgeseal")
    return None


def raw(port: int, data: bytes) -> bytes:
    """What the server answers to ``data`` until it closes (a reset ends it too)."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


def test_chain_limits_and_errors() -> None:
    limits = ServerLimits(max_body_bytes=100, max_target_bytes=200)
    with HttpServer([boom, echo], limits=limits).start() as server:
        status, _h, body = get(f"{server.url}/echo/caf%C3%A9?a=1&a=2&b=")
        assert status == 200 and body == b"GET /echo/caf\xc3\xa9 {'a': ['1', '2'], 'b': ['']}\n"
        status, headers, body = get(f"{server.url}/elsewhere")
        assert status == 404 and b"nothing is served at /elsewhere" in body
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, _h, body = get(f"{server.url}/boom")
        assert status == 500 and b"secret" not in body and b"verifier's log" in body
        status, _h, _b = get(f"{server.url}/echo", method="POST", data=b"x" * 101)
        assert status == 413
        status, _h, _b = get(f"{server.url}/echo?" + "q" * 300)
        assert status == 414
        assert raw(server.port, b"HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head = raw(server.port, b"HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")  # no body
        for bad in (b"Content-Length: -1", b"Content-Length: x", b"Transfer-Encoding: chunked"):
            answer = raw(server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n" + bad + b"\r\n\r\n")
            assert answer.split(b" ")[1] in (b"400", b"411"), answer
        answer = raw(server.port, b"GET /%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer
        answer = raw(server.port, b"GET echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer


def test_a_slow_client_is_cut_off_and_does_not_block_others() -> None:
    limits = ServerLimits(read_timeout_s=0.5)
    with HttpServer([echo], limits=limits).start() as server:
        slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        slow.sendall(b"GET /echo HTTP/1.1\r\n")  # ...and never the rest
        assert get(f"{server.url}/echo")[0] == 200  # served meanwhile
        assert slow.recv(100) == b""  # closed by the server after its read time limit
        slow.close()


def test_connections_beyond_the_bound_get_503() -> None:
    limits = ServerLimits(max_connections=1, read_timeout_s=5)
    with HttpServer([echo], limits=limits).start() as server:
        hold = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        hold.sendall(b"GET /echo HTTP/1.1\r\n")  # occupies the only slot
        try:
            answer = raw(server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 503"), answer
        finally:
            hold.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with HttpServer([echo], tls=tls_context(cert, key)).start() as server:
        assert server.url.startswith("https://")
        client = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"{server.url}/echo", context=client, timeout=10) as r:
            assert r.status == 200
        # Plain HTTP to the TLS port gets no answer, and the server keeps serving.
        assert not raw(server.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP")
        with urllib.request.urlopen(f"{server.url}/echo", context=client, timeout=10) as r:
            assert r.status == 200
    with pytest.raises(HttpStartError, match="cannot load the TLS certificate"):
        tls_context(key, cert)


def test_a_taken_address_says_so() -> None:
    with HttpServer([echo]).start() as server:
        taken = f"cannot serve HTTP on 127.0.0.1:{server.port}"
        with pytest.raises(HttpStartError, match=taken):
            HttpServer([echo], port=server.port)
