"""start_console puts it all on one port: the log's checkpoint and tiles (public, when
the log is on), the API (token), the pages (public)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from console_client import get
from console_helpers import TOKEN
from log_helpers import ORIGIN, accept, log_config, log_signer, sequencer, store_at
from verifier_builders import GatewayChain

from edgeseal.verifier.config import StoreConfig, VerifierConfig
from edgeseal.verifier.http_config import HttpConfig
from edgeseal.verifier.http_console import start_console


def test_log_api_and_pages_on_one_port(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite"
    gw = GatewayChain("gw-a")
    with store_at(path) as store:
        accept(store, [gw], 3)
        sequencer(store, log_signer()).step()
    config = VerifierConfig(
        store=StoreConfig(path=path),
        gateways={"gw-a": gw.enrolled_key},
        http=HttpConfig(host="127.0.0.1", port=0, tokens=(TOKEN,)),
    )
    for log_on in (True, False):
        running = start_console(
            replace(config, log=log_config() if log_on else config.log), watch_status=False
        )
        try:
            status, _h, body = get(f"{running.url}/log/checkpoint")
            if log_on:
                assert status == 200 and body.decode().startswith(f"{ORIGIN}\n3\n")
            else:
                assert status == 404
            assert get(f"{running.url}/api/v1/gateways")[0] == 401
            assert get(f"{running.url}/api/v1/gateways", TOKEN)[0] == 200
            status, headers, body = get(f"{running.url}/console/receipt.html")
            assert status == 200 and b"receipt checker" in body
            # The receipt checker's inline script is allowed by its hash, nothing else inline.
            assert "'sha256-" in headers["Content-Security-Policy"]
            assert "unsafe-inline" not in headers["Content-Security-Policy"].split("style-src")[0]
            assert get(f"{running.url}/console/../api/v1/gateways")[0] in (400, 404)
            assert get(f"{running.url}/console/nothing.js")[0] == 404
        finally:
            running.close()
