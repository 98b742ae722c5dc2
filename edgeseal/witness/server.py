"""The witness's HTTP service: ``POST /add-checkpoint`` and ``GET /<origin hash>/checkpoint``.

Request bodies need a Content-Length and are bounded (413 beyond the limit); every
connection has a socket timeout, so a client that stops sending cannot hold a thread.
"""

from __future__ import annotations

import logging
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgeseal.witness.core import TEXT, Response, Witness
from edgeseal.witness.protocol import ADD_CHECKPOINT

log = logging.getLogger(__name__)
_MONITOR_PATH = re.compile(r"/([0-9a-f]{64})/checkpoint")


class WitnessServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        witness: Witness,
        *,
        max_body: int = 64 * 1024,
        timeout_s: float = 10.0,
    ) -> None:
        self.witness = witness
        self.max_body = max_body
        self.request_timeout_s = timeout_s
        if ":" in address[0]:  # an IPv6 literal such as ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: WitnessServer
    protocol_version = "HTTP/1.1"  # keep-alive, as tlog-witness recommends
    server_version = "edgeseal-witness"

    def setup(self) -> None:
        super().setup()
        # StreamRequestHandler applies its class-level timeout in setup(); the server's
        # configured one replaces it on this connection's socket.
        self.connection.settimeout(self.server.request_timeout_s)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def _send(self, resp: Response) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(resp.body)

    def _fail(self, status: int, reason: str) -> None:
        # The body may not have been read: do not try to reuse this connection.
        self.close_connection = True
        self._send(Response(status, (reason + "\n").encode(), TEXT))

    def do_POST(self) -> None:
        if self.path != ADD_CHECKPOINT:
            self._fail(404, f"no such endpoint {self.path[:100]!r}; POST {ADD_CHECKPOINT}")
            return
        length_text = self.headers.get("Content-Length")
        if length_text is None or self.headers.get("Transfer-Encoding"):
            self._fail(411, "a Content-Length is required")
            return
        try:
            length = int(length_text)
        except ValueError:
            self._fail(400, "Content-Length is not a number")
            return
        if length < 0:
            self._fail(400, "Content-Length is negative")
            return
        if length > self.server.max_body:
            self._fail(413, f"the request body is limited to {self.server.max_body} bytes")
            return
        try:
            body = self.rfile.read(length)
        except OSError as exc:  # includes the socket timeout of a stalled client
            log.info("dropped a request from %s: %s", self.client_address[0], exc)
            self.close_connection = True
            return
        if len(body) != length:
            self._fail(400, "the request body ended early")
            return
        try:
            resp = self.server.witness.add_checkpoint(body)
        except Exception:
            log.exception("add-checkpoint failed")
            self._fail(500, "internal error; see the witness's log")
            return
        self._send(resp)

    def do_GET(self) -> None:
        match = _MONITOR_PATH.fullmatch(self.path)
        if match is None:
            self._fail(404, "GET /<hex SHA-256 of the origin>/checkpoint")
            return
        self._send(self.server.witness.latest(match.group(1)))
