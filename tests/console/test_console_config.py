"""The verifier's [http] section: what it accepts, and errors that name the key at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeseal.verifier.config import ConfigError, config_from_mapping

TOKEN = "0123456789abcdef0123"


def http(section: dict, base: Path | None = None):
    return config_from_mapping({"http": section}, base).http


def test_off_by_default_and_addresses() -> None:
    assert not config_from_mapping({}).http.enabled
    assert http({"address": "127.0.0.1:8480"}).port == 8480
    v6 = http({"address": "[::1]:0", "tokens": [TOKEN]})
    assert (v6.host, v6.port, v6.tokens, v6.scheme) == ("::1", 0, (TOKEN,), "http")


def test_tls_files(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    got = http({"address": "0.0.0.0:443", "tls_cert": "c.pem", "tls_key": "k.pem"}, tmp_path)
    assert got.tls_cert == tmp_path / "c.pem" and got.scheme == "https"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"address": "8480"}, "http.address = '8480': give \"host:port\""),
        ({"address": "127.0.0.1:99999"}, "port 99999 is outside"),
        ({"address": "example.org:80"}, "must be an IP address"),
        ({"address": "127.0.0.1:1", "tls_cert": "c.pem"}, "give both or neither"),
        ({"address": "127.0.0.1:1", "tls_cert": "no.pem", "tls_key": "no.pem"}, "not a readable"),
        ({"address": "127.0.0.1:1", "tokens": "abc"}, "must be a list of strings"),
        ({"address": "127.0.0.1:1", "tokens": ["short"]}, "http.tokens[0]: a token is 16"),
        ({"address": "127.0.0.1:1", "tokens": [TOKEN + " x"]}, "http.tokens[0]"),
        ({"address": "127.0.0.1:1", "port": 1}, "unknown key(s)"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, section: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        http(section, tmp_path)
    assert message in str(caught.value)


def test_http_address_option_is_checked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from edgeseal.cli import main

    config = tmp_path / "verifier.toml"
    config.write_text('[store]\npath = "v.sqlite"\n')
    assert main(["verifier", "--config", str(config), "--http-address", "nowhere"]) == 2
    assert "--http-address = 'nowhere': give \"host:port\"" in caplog.text


def test_a_taken_console_address_stops_the_worker_at_start(tmp_path: Path) -> None:
    import socket

    from edgeseal.verifier.config import StoreConfig, VerifierConfig
    from edgeseal.verifier.http_config import HttpConfig
    from edgeseal.verifier.service import ServiceStartError, VerifierService

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = VerifierConfig(
            store=StoreConfig(path=tmp_path / "v.sqlite"),
            http=HttpConfig(host="127.0.0.1", port=port, tokens=(TOKEN,)),
        )
        with pytest.raises(ServiceStartError, match=f"cannot serve HTTP on 127.0.0.1:{port}"):
            VerifierService(config).run()
