"""Prometheus metrics in a private registry, served on 127.0.0.1 only.

The agent and the verifier each define their metrics on top of ``PrivateMetrics``:
a registry per instance (so two daemons, or two test harnesses, in one process never
collide with "duplicated timeseries"), metric names under one prefix, and an
optional ``/metrics`` endpoint bound to the loopback interface.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

METRICS_HOST = "127.0.0.1"


class PrivateMetrics:
    """A private registry whose metric names all start with ``<prefix>_``."""

    def __init__(self, prefix: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._prefix = prefix
        self._server: Any = None

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(f"{self._prefix}_{name}", documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str) -> Gauge:
        return Gauge(f"{self._prefix}_{name}", documentation, registry=self.registry)

    def histogram(self, name: str, documentation: str, buckets: Sequence[float]) -> Histogram:
        return Histogram(
            f"{self._prefix}_{name}", documentation, buckets=buckets, registry=self.registry
        )

    def serve(self, port: int) -> int:
        """Expose /metrics on 127.0.0.1:port (0: any free port); returns the bound port."""
        self._server, _thread = start_http_server(port, addr=METRICS_HOST, registry=self.registry)
        bound = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", METRICS_HOST, bound)
        return bound

    def close(self) -> None:
        """Stop serving (no-op when not serving)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
