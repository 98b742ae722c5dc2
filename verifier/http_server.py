"""The verifier's one HTTP server: moves bytes between sockets and Handlers.

Everything it serves is decided by a chain of Handlers (verifier/http_types.py): the
first that returns a response answers. The server itself only parses requests within
limits (body size, header count, a time limit on every read, a bound on connections
served at once), optionally speaks TLS, and turns a failing handler into a 500 that
names no internals.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from edgeseal.verifier.http_types import Handler, HttpRequest, HttpResponse, text_response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    # A read-only console takes no uploads: bodies beyond this are refused (413).
    max_body_bytes: int = 64 * 1024
    # Each read from a client (request line, a header, the body) must finish within this.
    read_timeout_s: float = 10.0
    # Connections served at once; more are answered 503 at once and closed.
    max_connections: int = 64
    # Longest request target (path and query), in bytes.
    max_target_bytes: int = 4096
    max_query_fields: int = 32


class HttpStartError(RuntimeError):
    """The server cannot start (address in use, unusable TLS files): the message says which."""


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise HttpStartError(
            f"cannot load the TLS certificate {cert} and key {key}: {exc}"
        ) from None
    return context


def _refusal(target: str, status: int, message: str) -> HttpResponse:
    """The server's own refusals: JSON under /api/ (what the API's clients parse), else text."""
    if target.startswith("/api/"):
        body = (json.dumps({"error": message}) + "\n").encode()
        return HttpResponse(status, body, "application/json", (("Cache-Control", "no-store"),))
    return text_response(status, message)


def answer(handlers: Sequence[Handler], request: HttpRequest) -> HttpResponse:
    """The first handler's response; 404 when none serves the path."""
    for handler in handlers:
        response = handler(request)
        if response is not None:
            return response
    return text_response(404, f"nothing is served at {request.path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handlers: Sequence[Handler],
        limits: ServerLimits,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.handlers = tuple(handlers)
        self.limits = limits
        self.tls = tls
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\nRetry-After: 1\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread and under its
        # read time limit, so a slow client cannot hold up the accepting thread.
        request.settimeout(self.limits.read_timeout_s)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
        super().finish_request(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "edgeseal-verifier"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, response: HttpResponse, *, head: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def _handle(self) -> None:
        limits = self.server.limits
        head = self.command == "HEAD"
        if len(self.path.encode("utf-8", "replace")) > limits.max_target_bytes:
            self.close_connection = True
            self._send(
                _refusal(
                    self.path, 414, f"request target longer than {limits.max_target_bytes} bytes"
                ),
                head=head,
            )
            return
        length_text = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self._send(
                _refusal(self.path, 411, "chunked request bodies are not accepted"), head=head
            )
            return
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._send(_refusal(self.path, 400, f"bad Content-Length {length_text!r}"), head=head)
            return
        if length > limits.max_body_bytes:
            self.close_connection = True
            self._send(
                _refusal(self.path, 413, f"request body over {limits.max_body_bytes} bytes"),
                head=head,
            )
            return
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        path = unquote(target.path, errors="strict") if target.path else ""
        if not path.startswith("/") or "\x00" in path:
            why = "must start with /" if not path.startswith("/") else "holds a NUL character"
            self._send(_refusal(self.path, 400, f"the request path {why}"), head=head)
            return
        try:
            query = parse_qs(
                target.query,
                keep_blank_values=True,
                strict_parsing=False,
                max_num_fields=limits.max_query_fields,
            )
        except ValueError:
            self._send(
                _refusal(self.path, 400, f"more than {limits.max_query_fields} query parameters"),
                head=head,
            )
            return
        request = HttpRequest(
            method="GET" if head else self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = answer(self.server.handlers, request)
        except Exception:
            log.exception("HTTP handler failed on %s %s", self.command, path)
            response = _refusal(path, 500, "internal error; the verifier's log has the details")
        self._send(response, head=head)

    def _handle_safely(self) -> None:
        try:
            self._handle()
        except UnicodeDecodeError:
            self._send(_refusal(self.path, 400, "the request path is not valid UTF-8"))

    do_GET = _handle_safely
    do_HEAD = _handle_safely
    do_POST = _handle_safely
    do_PUT = _handle_safely
    do_DELETE = _handle_safely
    do_PATCH = _handle_safely
    do_OPTIONS = _handle_safely


class HttpServer:
    """Serves ``handlers`` on ``host:port`` (port 0: a free one) until close()."""

    def __init__(
        self,
        handlers: Sequence[Handler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        limits: ServerLimits = ServerLimits(),
    ) -> None:
        try:
            self._server = _Server((host, port), handlers, limits, tls)
        except OSError as exc:
            raise HttpStartError(
                f"cannot serve HTTP on {host}:{port}: {exc.strerror or exc}"
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="verifier-http"
        )
        self.scheme = "https" if tls is not None else "http"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        shown = f"[{host}]" if ":" in host else host
        if shown in ("0.0.0.0", "[::]"):
            shown = "127.0.0.1"
        return f"{self.scheme}://{shown}:{self.port}"

    def start(self) -> HttpServer:
        self._thread.start()
        log.info("serving the console, API and log on %s/", self.url)
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> HttpServer:  # noqa: PYI034 - final class in practice
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
