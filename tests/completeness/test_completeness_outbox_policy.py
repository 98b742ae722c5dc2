"""The outbox full under each on_full policy, on real processes, against ground truth.

The verifier starts 3 s late, so the agent's batches wait unacknowledged and its outbox
(max_bytes = 64 KiB) fills. ``block``: the agent stops ACKing, the device's ring holds
its readings (no --overwrite: sampling pauses), nothing is lost, and the back-pressure
on/off events are in the chain. ``drop-oldest``: the agent keeps ACKing, pauses sealing
and drops the oldest unsealed readings, each run in a signed ``gateway_policy`` loss
notice. Either way, at the end every seq the device generated is stored or inside a
signed loss notice, never both, and the account is complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import tomllib
from agent_helpers import persistent_broker, start_agent
from campaign_trial import Trial, TrialPlan
from ground_truth import open_store, stored_seqs, wait_until_accounted
from verifier_mqtt import wait_until

from edgeseal.testing.devices import simulated_device
from edgeseal.verifier.accounts import AccountStatus, covered_seqs, list_accounts

RATE = 400
READINGS = 1600


def _outbox_config(trial: Trial, port: str, policy: str) -> Path:
    path = trial.agent_config(port)
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["outbox"].update({"max_bytes": 64 * 1024, "on_full": policy})
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


@pytest.mark.parametrize("policy", ["block", "drop-oldest"])
def test_a_full_outbox_loses_nothing_unexplained(tmp_path: Path, policy: str) -> None:
    plan = TrialPlan(seed=141, readings=READINGS, rate=RATE, verifiers=1, events=())
    with persistent_broker() as broker:
        trial = Trial(tmp_path / "trial", broker.port, 1, plan)
        trial.workers = [None]
        try:
            with simulated_device(
                device_id=trial.device_id,
                rate=RATE,
                count=READINGS,
                exit_when_done=True,
                seed=plan.seed,
                link=trial.tmp / "ttyDEV",
            ) as dev:
                trial.agent = start_agent(_outbox_config(trial, dev.port, policy), trial.agent_log)
                wait_until(
                    lambda: (
                        "outbox" in trial.agent_log.read_text(errors="replace")
                        and (
                            "back-pressure" in trial.agent_log.read_text(errors="replace")
                            or "drop-oldest" in trial.agent_log.read_text(errors="replace")
                        )
                    ),
                    30,
                    f"the outbox to fill ({policy})",
                )
                time.sleep(1.0)
                trial.start_verifier(0)
                assert dev.wait(90) == 0
            summary = dev.summary
            assert summary is not None
            boots: list[dict[str, Any]] = summary["boots"]
            wait_until_accounted(trial, boots, 60)
        finally:
            trial.stop()
    (boot,) = boots
    with open_store(trial) as db:
        stored = stored_seqs(db, trial, boot["boot_id"])
        covered = covered_seqs(db, trial.gateway_id, trial.device_id, boot["boot_id"])
        (account,) = list_accounts(db, gateway_id=trial.gateway_id)
        events = db.execute("SELECT kind, reason FROM device_events").fetchall()
    assert not stored & covered
    assert stored | covered == set(range(1, boot["generated"] + 1))
    assert account.status is AccountStatus.COMPLETE and account.lost == len(covered)
    if policy == "block":
        assert not covered, "block must not lose anything"
        assert ("backpressure", "on") in events and ("backpressure", "off") in events
    else:
        assert covered, "drop-oldest dropped nothing: the outbox never filled"
        assert {r for k, r in events if k == "readings_lost"} == {"gateway_policy"}
