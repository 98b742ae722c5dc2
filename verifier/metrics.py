"""The verifier's Prometheus metrics, in a private registry per worker."""

from __future__ import annotations

from collections.abc import Sequence

from edgeseal.plumbing.metrics_http import PrivateMetrics
from edgeseal.verifier.store import Gap
from edgeseal.verifier.verdict import Outcome, Verdict


class VerifierMetrics(PrivateMetrics):
    def __init__(self) -> None:
        super().__init__("edgeseal_verifier")
        self.verdicts = self.counter(
            "verdicts", "Verdicts stored, by outcome and quarantine reason", ["outcome", "reason"]
        )
        self.readings_accepted = self.counter("readings_accepted", "Readings accepted and stored")
        self.message_seconds = self.histogram(
            "message_seconds",
            "Time from receiving a batch message to its stored verdict(s)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.gaps_open = self.gauge(
            "gaps_open",
            "Gateways with batches held for a whole report interval (waiting for a missing seq)",
        )
        self.batches_held = self.gauge("batches_held", "Batches held in the store, all gateways")
        self.resend_requests = self.counter(
            "resend_requests", "Signed resend requests published to gateways (missing seqs)"
        )
        self.gaps_unfilled = self.gauge(
            "gaps_unfilled",
            "Gateways whose missing seqs stayed missing after repeated resend requests",
        )
        self.unexplained_gaps = self.counter(
            "unexplained_gaps",
            "Holes in device accounts the chain passed by gap_margin_batches: neither stored "
            "nor covered by a signed loss notice",
        )
        self.unexplained_readings = self.counter(
            "unexplained_readings", "Seqs inside the unexplained gaps reported"
        )
        self.broker_connected = self.gauge(
            "broker_connected", "1 while connected to the MQTT broker"
        )

    def observe(self, verdicts: Sequence[Verdict], seconds: float) -> None:
        self.message_seconds.observe(seconds)
        for v in verdicts:
            self.verdicts.labels(v.outcome.value, v.reason.value if v.reason else "").inc()
            if v.outcome is Outcome.ACCEPTED and v.count:
                self.readings_accepted.inc(v.readings if v.readings is not None else v.count)
            for gap in v.unexplained_gaps:
                self.unexplained_gaps.inc()
                self.unexplained_readings.inc(int(gap["last_seq"]) - int(gap["first_seq"]) + 1)

    def observe_gaps(self, all_gaps: Sequence[Gap], open_gaps: Sequence[Gap]) -> None:
        self.batches_held.set(sum(g.held for g in all_gaps))
        self.gaps_open.set(len(open_gaps))
