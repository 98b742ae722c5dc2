"""The verifier's HTTP requests and responses, as plain values.

Handlers are functions from a request to a response (or None: not theirs), so the log's
tiles, the API and the console pages can be written and tested without a socket, and the
one server (verifier/http_server.py) only moves bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpRequest:
    method: str  # "GET", "HEAD", "POST", ...
    path: str  # the decoded path, without the query string, e.g. "/log/checkpoint"
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


# Returns None when the path is not one it serves, so handlers can be chained.
Handler = Callable[[HttpRequest], HttpResponse | None]


def text_response(status: int, message: str) -> HttpResponse:
    """A short plain-text answer, for errors an operator or a script reads."""
    return HttpResponse(status, (message.rstrip("\n") + "\n").encode())
