"""The console's static pages (verifier/console/), served as they are shipped in the wheel.

The files are read once at start: the set served is fixed, so no request path can
reach any other file. Pages get a Content-Security-Policy that lets them load only
the verifier's own files and talk only to the verifier; the receipt checker's inline
script (inline so the page also works opened from a file) is allowed by its hash.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from edgeseal.verifier.http_types import Handler, HttpRequest, HttpResponse, text_response

CONSOLE_DIR = Path(__file__).with_name("console")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_INLINE_SCRIPT = re.compile(rb"<script[^>]*>(.*?)</script>", re.DOTALL)


def _policy(body: bytes) -> str:
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(body)
        if m.group(1).strip()
    ]
    scripts = " ".join(["'self'", *hashes])
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def load_console(directory: Path = CONSOLE_DIR) -> dict[str, HttpResponse]:
    """URL path -> response, for every file of the console (``/`` is the dashboard)."""
    files: dict[str, HttpResponse] = {}
    for path in sorted(directory.iterdir()):
        kind = _TYPES.get(path.suffix)
        if kind is None or not path.is_file():
            continue
        body = path.read_bytes()
        headers: tuple[tuple[str, str], ...] = (("Cache-Control", "no-cache"),)
        if path.suffix == ".html":
            headers += (("Content-Security-Policy", _policy(body)),)
        files[f"/console/{path.name}"] = HttpResponse(200, body, kind, headers)
    if "/console/index.html" in files:
        files["/"] = files["/console/index.html"]
        files["/console/"] = files["/console/index.html"]
    return files


def make_console_handler(directory: Path = CONSOLE_DIR) -> Handler:
    files = load_console(directory)

    def handle(request: HttpRequest) -> HttpResponse | None:
        if request.path != "/" and not request.path.startswith("/console/"):
            return None
        found = files.get(request.path)
        if found is None:
            return text_response(404, f"the console has no file {request.path}")
        if request.method != "GET":
            return HttpResponse(
                405, b"the console's files are read-only\n", headers=(("Allow", "GET, HEAD"),)
            )
        return found

    return handle
