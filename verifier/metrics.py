"""The verifier's Prometheus metrics, in a private registry per worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from verifier.store import Gap
from verifier.verdict import Outcome, Verdict

log = logging.getLogger(__name__)


class VerifierMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.verdicts = Counter(
            "edgeseal_verifier_verdicts", "Verdicts stored, by outcome and quarantine reason",
            ["outcome", "reason"], registry=r,
        )  # fmt: skip
        self.readings_accepted = Counter(
            "edgeseal_verifier_readings_accepted", "Readings accepted and stored", registry=r
        )
        self.message_seconds = Histogram(
            "edgeseal_verifier_message_seconds",
            "Time from receiving a batch message to its stored verdict(s)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.gaps_open = Gauge(
            "edgeseal_verifier_gaps_open",
            "Gateways with batches held for a whole report interval (waiting for a missing seq)",
            registry=r,
        )
        self.batches_held = Gauge(
            "edgeseal_verifier_batches_held", "Batches held in the store, all gateways", registry=r
        )
        self.broker_connected = Gauge(
            "edgeseal_verifier_broker_connected", "1 while connected to the MQTT broker", registry=r
        )
        self._server: Any = None

    def observe(self, verdicts: Sequence[Verdict], seconds: float) -> None:
        self.message_seconds.observe(seconds)
        for v in verdicts:
            self.verdicts.labels(v.outcome.value, v.reason.value if v.reason else "").inc()
            if v.outcome is Outcome.ACCEPTED and v.count:
                self.readings_accepted.inc(v.count)

    def observe_gaps(self, all_gaps: Sequence[Gap], open_gaps: Sequence[Gap]) -> None:
        self.batches_held.set(sum(g.held for g in all_gaps))
        self.gaps_open.set(len(open_gaps))

    def serve(self, port: int) -> int:
        """Expose /metrics on 127.0.0.1:port; returns the bound port."""
        self._server, _thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        bound = int(self._server.server_address[1])
        log.info("metrics on http://127.0.0.1:%d/metrics", bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
