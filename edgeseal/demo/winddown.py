"""The end of a run, in the order that loses nothing: the devices stop, the agent signs
what is still arriving, seals and flushes, and the verifier catches up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from edgeseal.demo.metrics import SIGNED, read_agent_metrics
from edgeseal.demo.processes import Child, Children
from edgeseal.demo.summary import Outcome
from edgeseal.demo.watcher import Progress

SIGNED_STILL_FOR_S = 0.5  # the agent has signed what arrived once its count holds this long
SIGNING_WAIT_S = 5.0
AGENT_STOP_S = 20.0  # it seals pending readings and waits for PUBACKs
VERDICTS_WAIT_S = 15.0


def wind_down(
    children: Children,
    devices: Sequence[Child],
    agent: Child,
    metrics_port: int,
    metrics: dict[str, float],
    progress: Progress,
) -> Outcome:
    """Stop devices and agent (not the verifier) and count what they made and sent."""
    outcome = Outcome()
    for device in devices:
        children.stop(device)
        outcome.generated += _generated(device)
    outcome.signed = _signing_settled(metrics_port, int(metrics.get(SIGNED, 0)))
    children.stop(agent, timeout=AGENT_STOP_S)
    # Every batch the broker accepted reaches the verifier; wait for its verdicts.
    _wait_until(lambda: progress.settled() >= progress.batches_seen > 0, VERDICTS_WAIT_S)
    with progress.lock:
        outcome.published = progress.batches_seen
        outcome.chain_seq = progress.last_accepted_seq
    return outcome


def _generated(device: Child) -> int:
    """Readings a stopped device made, from the summary it prints on its way out."""
    summary = next(
        (
            json.loads(line)
            for line in reversed(device.stdout_lines)
            if line.startswith("{") and '"summary"' in line
        ),
        None,
    )
    return 0 if summary is None else int(summary.get("generated", 0))


def _signing_settled(metrics_port: int, signed: int) -> int:
    """Let the agent sign what is still arriving (frames already in the serial buffers)
    before it is asked to stop: wait until its count holds still; the count."""
    deadline = time.monotonic() + SIGNING_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(SIGNED_STILL_FOR_S)
        now = read_agent_metrics(metrics_port)
        if not now or int(now.get(SIGNED, 0)) == signed:
            break
        signed = int(now.get(SIGNED, 0))
    return signed


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
