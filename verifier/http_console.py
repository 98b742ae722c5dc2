"""Everything the verifier serves over HTTP, put together from its configuration.

``/log/...``: the transparency log's checkpoint and tiles (public, when the log is on);
``/api/v1/...``: the read-only API (verifier/http_api.py); ``/`` and ``/console/...``:
the dashboard and the receipt checker (verifier/console/). One worker process serves
(the one whose configuration has an ``[http] address``, see docs/console.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edgeseal.verifier.api_queries import ApiQueries
from edgeseal.verifier.config import VerifierConfig
from edgeseal.verifier.console_files import make_console_handler
from edgeseal.verifier.gateway_status import StatusBoard, StatusWatcher
from edgeseal.verifier.http_api import ApiContext, Receipts, make_api_handler
from edgeseal.verifier.http_server import HttpServer, tls_context
from edgeseal.verifier.http_types import Handler
from edgeseal.verifier.log_http import make_log_handler, read_only

log = logging.getLogger(__name__)


@dataclass
class RunningConsole:
    server: HttpServer
    receipts: Receipts
    watcher: StatusWatcher | None

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.server.close()
        if self.watcher is not None:
            self.watcher.close()
        self.receipts.close()


def start_console(
    config: VerifierConfig,
    *,
    extra_handlers: Sequence[Handler] = (),
    watch_status: bool = True,
) -> RunningConsole:
    """Serve ``config.http`` (which must be enabled); HttpStartError if it cannot bind."""
    http = config.http
    assert http.enabled, "start_console needs an [http] address"
    receipts = Receipts(config.store.location)
    board = StatusBoard()
    context = ApiContext(
        queries=ApiQueries(config.store.location, busy_timeout_s=config.store.busy_timeout_s),
        enrolled=dict(config.gateways),
        tokens=http.tokens,
        receipts=receipts,
        status=board,
    )
    tls = (
        tls_context(http.tls_cert, http.tls_key)
        if http.tls_cert is not None and http.tls_key is not None
        else None
    )
    handlers = [*extra_handlers]
    if config.log.enabled:
        handlers.append(make_log_handler(read_only(config.store.location)))
    handlers += [make_api_handler(context), make_console_handler()]
    server = HttpServer(handlers, host=http.host, port=http.port, tls=tls).start()
    watcher = None
    if watch_status:
        watcher = StatusWatcher(config.mqtt, board)
        watcher.start()
    if not http.tokens:
        log.warning(
            "[http] has no tokens: the console's pages and the log are served, the API's "
            "data is not (add tokens to read gateways, readings and receipts)"
        )
    return RunningConsole(server, receipts, watcher)
