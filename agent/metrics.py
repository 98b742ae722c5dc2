"""The agent's Prometheus metrics, in a private registry per daemon instance."""

from __future__ import annotations

from edgeseal.plumbing.metrics_http import PrivateMetrics


class AgentMetrics(PrivateMetrics):
    def __init__(self) -> None:
        super().__init__("edgeseal_agent")
        counter, gauge = self.counter, self.gauge
        self.readings_received = counter(
            "readings_received", "Readings delivered by the serial links"
        )
        self.readings_duplicate = counter(
            "readings_duplicate",
            "Resent readings already stored (acknowledged again, not stored twice)",
        )
        self.readings_signed = counter(
            "readings_signed", "Readings signed and stored in the outbox"
        )
        self.readings_lost = counter("readings_lost", "Readings the devices reported lost for good")
        self.batches_sealed = counter("batches_sealed", "Batches sealed")
        self.batches_published = counter(
            "batches_published", "Batches acknowledged by the broker (PUBACK)"
        )
        self.batches_rejected = counter("batches_rejected", "Batches the broker refused (retried)")
        self.batches_acknowledged = counter(
            "batches_acknowledged",
            "Batches the verifier acknowledged (signed accepted/duplicate verdict) and forgotten",
        )
        self.batches_republished = counter(
            "batches_republished",
            "Batches published again (no verdict in time, reconnect, verifier's resend request)",
        )
        self.verdicts_refused = counter(
            "verdicts_refused",
            "Verdicts and resend requests ignored: bad signature, malformed, other gateway",
        )
        self.resend_requests = counter(
            "resend_requests", "Signed resend requests received from the verifier"
        )
        self.batches_quarantined = gauge(
            "batches_quarantined",
            "Batches the verifier quarantined, kept in the outbox (an operator must look)",
        )
        self.outbox_sending = gauge("outbox_batches_sending", "Batches handed to MQTT, no PUBACK")
        self.outbox_awaiting = gauge(
            "outbox_batches_awaiting_verdict", "Batches the broker took, no verdict yet"
        )
        self.serial_errors = counter("serial_errors", "Serial ports going down or failing")
        self.outbox_batches = gauge(
            "outbox_batches", "Sealed batches in the outbox (not yet acknowledged)"
        )
        self.outbox_pending = gauge("outbox_pending_readings", "Stored readings not yet sealed")
        self.outbox_bytes = gauge(
            "outbox_bytes", "Bytes held in the outbox (bounded by outbox.max_bytes)"
        )
        self.held_readings = gauge(
            "held_readings",
            "Readings received but not yet stored (outbox full), not ACKed to the device",
        )
        self.readings_dropped = counter(
            "readings_dropped",
            "Unsealed readings dropped by outbox.on_full = drop-oldest (each in a signed loss notice)",
        )
        self.outbox_oldest_age = gauge(
            "outbox_oldest_unsent_age_seconds",
            "Age of the oldest item not yet acknowledged (unsealed reading or batch)",
        )
        self.backpressure = gauge("backpressure", "1 while the agent withholds device ACKs")
        self.broker_connected = gauge("broker_connected", "1 while connected to the MQTT broker")
        self.chain_seq = gauge("chain_seq", "Seq of the last sealed batch")
