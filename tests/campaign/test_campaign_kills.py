"""Issue 11's "Done when" campaign: random SIGKILLs of the agent and the verifiers.

Real processes (a simulated device on a pty, `edgeseal agent`, one or two `edgeseal
verifier` workers, a persistent mosquitto), a non-default topic prefix, the agent and
the verifiers SIGKILLed at random moments and the device rebooted while the agent is
down; see campaign_trial.py for one trial and its audit against the simulator's own
ground truth. The other cases of the campaign (verifier starting late, broker restarted
while the verifier is offline, verifier down past its session expiry, broker SIGKILLed
mid-stream) are tests/verifier/test_verifier_end_to_end_ack.py; a non-default prefix
against a mismatched one is tests/verifier/test_verifier_topic_prefix.py.

EDGESEAL_CAMPAIGN_TRIALS sets the number of trials (default 30); EDGESEAL_CAMPAIGN_SEED
the first trial's seed (trial k uses seed + k), so a failing trial is replayed alone with
its own seed and EDGESEAL_CAMPAIGN_TRIALS=1. EDGESEAL_CAMPAIGN_PARALLEL trials run at a
time (default 2): a trial mostly waits on its schedule, and trials share only the broker
(each has its own prefix, gateway, device and files), so two at once also tests a
broker serving two fleets while their processes are killed.
"""

from __future__ import annotations

import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from campaign_trial import TrialFigures, TrialPlan, describe, run_trial

from edgeseal.testing.broker import find_mosquitto

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from agent_helpers import persistent_broker


@pytest.mark.slow
def test_random_sigkills_of_agent_and_verifier_lose_nothing_unreported(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; scripts/test installs it with apt-get")
    trials = int(os.environ.get("EDGESEAL_CAMPAIGN_TRIALS", "30"))
    parallel = int(os.environ.get("EDGESEAL_CAMPAIGN_PARALLEL", "2"))
    first_seed = int(os.environ.get("EDGESEAL_CAMPAIGN_SEED", str(random.randrange(2**32))))
    total = TrialFigures()
    failures: list[str] = []
    began = time.monotonic()
    with persistent_broker() as broker:

        def trial(index: int) -> tuple[TrialFigures, list[str]]:
            return run_trial(tmp_path / f"trial-{index}", broker.port, index, first_seed + index)

        pool = ThreadPoolExecutor(max_workers=max(1, parallel))
        try:
            for index, (figures, problems) in enumerate(pool.map(trial, range(trials))):
                plan = TrialPlan.draw(first_seed + index)
                print(f"trial {index} seed {plan.seed}: {plan.readings} readings, {describe(plan)}")
                print(f"  -> {figures}")
                total.add(figures)
                failures += problems
        finally:
            # A trial that raised ends the campaign: the queued trials are not started.
            pool.shutdown(wait=True, cancel_futures=True)
    print(
        f"campaign from seed {first_seed}: {trials} trials, {parallel} at a time, in "
        f"{time.monotonic() - began:.0f} s; "
        f"{total.generated} readings generated, {total.accepted} accepted, "
        f"{total.reported_lost} reported lost (devices rebooted with {total.unacked_at_reboot} un-ACKed); "
        f"{total.agent_kills} agent and {total.verifier_kills} verifier SIGKILLs, "
        f"{total.reboots} reboots while the agent was down ({total.reboots_skipped} skipped)"
    )
    assert not failures, "\n".join(failures)
    # Not vacuous: every trial killed both sides, and reboots really lost readings.
    assert total.agent_kills >= trials and total.verifier_kills >= trials
    assert total.generated >= 100 * trials
    assert total.accepted + total.reported_lost == total.generated
    if trials >= 10:
        assert total.reboots >= 1 and total.reported_lost >= 1, "no reboot lost anything"
