"""``[limits]`` in verifier.toml reaches the running service (verifier/limits.py).

The bounds on held and quarantined batches were first only built-in defaults: a
deployment could not tighten them. Here a real verifier process, configured with a
small ``max_seq_jump``, refuses a batch that the default would have held.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from verifier_builders import GatewayChain, batch_topic, config_toml
from verifier_mqtt import ProcessWorker, Publisher, VerdictListener

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.testing.broker import MosquittoBroker
from edgeseal.verifier.config import config_from_mapping
from edgeseal.verifier.limits import StoreLimits


def test_limits_are_read_from_the_config() -> None:
    config = config_from_mapping({"limits": {"max_seq_jump": 2, "held_bytes_total": 1 << 20}})
    assert config.limits.max_seq_jump == 2
    assert config.limits.held_bytes_total == 1 << 20
    assert config.limits.quarantine_bytes_total == StoreLimits().quarantine_bytes_total
    assert config_from_mapping({}).limits == StoreLimits()


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_seq_jmp": 2}, "max_seq_jmp"),
        ({"max_seq_jump": 0}, "max_seq_jump"),
        ({"held_bytes_total": "1 GiB"}, "held_bytes_total"),
    ],
)
def test_bad_limits_are_refused_naming_the_key(limits: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"limits": limits})


def test_the_running_verifier_applies_the_configured_limits(
    mqtt_broker: MosquittoBroker, tmp_path: Path
) -> None:
    chain = GatewayChain("gw-lim")
    toml = config_toml(
        tmp_path / "store.sqlite", {chain.gateway_id: chain.enrolled_key}, port=mqtt_broker.port
    )
    config = tmp_path / "verifier.toml"
    config.write_text(toml + "\n[limits]\nmax_seq_jump = 2\n")
    verifier = ProcessWorker(config, "verifier-limits", tmp_path / "verifier.log")
    listener = VerdictListener(mqtt_broker.port)
    publisher = Publisher(mqtt_broker.port)
    try:
        verifier.wait_subscribed()
        first, _second, _third, fourth = chain.batches(4)
        publisher.publish(batch_topic(chain.gateway_id), first.to_payload())
        publisher.publish(batch_topic(chain.gateway_id), fourth.to_payload())
        verdicts = listener.wait_for(2)
        by_seq = {v["seq"]: v for v in verdicts}
        assert by_seq[1]["verdict"] == "accepted"
        # seq 4 is 3 past the head (seq 1): the default (4096) would hold it.
        assert (by_seq[4]["verdict"], by_seq[4]["reason"]) == ("quarantined", "too_far_ahead")
    finally:
        publisher.close()
        listener.close()
        verifier.stop()
