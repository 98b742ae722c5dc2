"""A tiny HTTP client for the console's tests (urllib, so nothing hides a status code)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def get(
    url: str, token: str | None = None, *, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, data=data)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    status, _headers, body = get(url, token)
    return status, json.loads(body)
