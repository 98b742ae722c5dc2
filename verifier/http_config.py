"""``[http]``: where the verifier serves its console, API and log, and who may read what.

The transparency log (``/log/``), the console's pages and the OpenAPI document are
public; the API's data (gateways, devices, quarantine, readings, receipts) needs one of
the bearer ``tokens``. An empty ``address`` (the default) serves nothing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from edgeseal.plumbing.config_toml import ConfigError, Section

HTTP_KEYS = frozenset({"address", "tls_cert", "tls_key", "tokens"})
# A token is a secret an operator generates (e.g. `openssl rand -hex 32`): long enough
# that guessing is hopeless, and only characters that survive a header and a URL.
MIN_TOKEN_CHARS = 16
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")


@dataclass(frozen=True)
class HttpConfig:
    # "" (nothing served), or "host:port": "127.0.0.1:8480", "[::1]:8480", "0.0.0.0:8480";
    # port 0 takes any free port (tests).
    host: str = ""
    port: int = 0
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tokens: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"


def parse_address(text: str, where: str) -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) -> (host, port); ConfigError naming ``where``."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(
            f'{where} = {text!r}: give "host:port", e.g. "127.0.0.1:8480" or "[::1]:8480"'
        )
    port = int(port_text)
    if port > 65535:
        raise ConfigError(f"{where} = {text!r}: port {port} is outside [0, 65535]")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ConfigError(
                f"{where} = {text!r}: the host must be an IP address (or localhost)"
            ) from None
    return host, port


def parse_http(section: Section) -> HttpConfig:
    address = section.get_str("address", "")
    if not address:
        return HttpConfig()
    host, port = parse_address(address, section.where("address"))
    cert = section.optional_path("tls_cert")
    key = section.optional_path("tls_key")
    if (cert is None) != (key is None):
        raise ConfigError(
            f"{section.where('tls_cert')} and {section.where('tls_key')}: give both or neither"
        )
    if cert is not None and key is not None:
        section.readable_file("tls_cert", cert)
        section.readable_file("tls_key", key)
    raw = section.data.get("tokens", [])
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise ConfigError(f"{section.where('tokens')} must be a list of strings")
    for n, token in enumerate(raw):
        if _TOKEN_RE.fullmatch(token) is None:
            raise ConfigError(
                f"{section.where('tokens')}[{n}]: a token is {MIN_TOKEN_CHARS} to 256 characters "
                "from A-Z a-z 0-9 . _ ~ + / = - (e.g. from `openssl rand -hex 32`)"
            )
    return HttpConfig(host=host, port=port, tls_cert=cert, tls_key=key, tokens=tuple(raw))
