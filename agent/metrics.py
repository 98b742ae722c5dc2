"""The agent's Prometheus metrics, in a private registry per daemon instance."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

log = logging.getLogger(__name__)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.readings_received = Counter(
            "edgeseal_agent_readings_received", "Readings delivered by the serial links", registry=r
        )
        self.readings_duplicate = Counter(
            "edgeseal_agent_readings_duplicate",
            "Resent readings already stored (acknowledged again, not stored twice)",
            registry=r,
        )
        self.readings_signed = Counter(
            "edgeseal_agent_readings_signed", "Readings signed and stored in the outbox", registry=r
        )
        self.readings_lost = Counter(
            "edgeseal_agent_readings_lost",
            "Readings the devices reported lost for good",
            registry=r,
        )
        self.batches_sealed = Counter("edgeseal_agent_batches_sealed", "Batches sealed", registry=r)
        self.batches_published = Counter(
            "edgeseal_agent_batches_published",
            "Batches acknowledged by the broker (PUBACK)",
            registry=r,
        )
        self.batches_rejected = Counter(
            "edgeseal_agent_batches_rejected", "Batches the broker refused (retried)", registry=r
        )
        self.serial_errors = Counter(
            "edgeseal_agent_serial_errors", "Serial ports going down or failing", registry=r
        )
        self.outbox_batches = Gauge(
            "edgeseal_agent_outbox_batches", "Sealed batches waiting for a PUBACK", registry=r
        )
        self.outbox_pending = Gauge(
            "edgeseal_agent_outbox_pending_readings", "Stored readings not yet sealed", registry=r
        )
        self.outbox_bytes = Gauge(
            "edgeseal_agent_outbox_bytes",
            "Bytes held in the outbox (bounded by outbox.max_bytes)",
            registry=r,
        )
        self.held_readings = Gauge(
            "edgeseal_agent_held_readings",
            "Readings received but not yet stored (outbox full), not ACKed to the device",
            registry=r,
        )
        self.backpressure = Gauge(
            "edgeseal_agent_backpressure", "1 while the agent withholds device ACKs", registry=r
        )
        self.broker_connected = Gauge(
            "edgeseal_agent_broker_connected", "1 while connected to the MQTT broker", registry=r
        )
        self.chain_seq = Gauge(
            "edgeseal_agent_chain_seq", "Seq of the last sealed batch", registry=r
        )
        self._server: Any = None
        self._thread: Any = None

    def serve(self, port: int) -> int:
        """Expose /metrics on 127.0.0.1:port; returns the bound port."""
        self._server, self._thread = start_http_server(
            port, addr="127.0.0.1", registry=self.registry
        )
        bound = int(self._server.server_address[1])
        log.info("metrics on http://127.0.0.1:%d/metrics", bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
