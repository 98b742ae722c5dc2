"""The agent's progress, read from its Prometheus endpoint."""

from __future__ import annotations

import urllib.request

SIGNED = "edgeseal_agent_readings_signed_total"
PUBLISHED = "edgeseal_agent_batches_published_total"


def read_agent_metrics(port: int) -> dict[str, float]:
    """The agent's Prometheus counters and gauges (name -> value); {} if unreachable."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                values[sample.name] = sample.value
    return values
