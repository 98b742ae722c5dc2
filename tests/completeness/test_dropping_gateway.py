"""A gateway that silently drops readings before sealing, and still signs what is left,
shows up as an unexplained gap naming device, boot and seq range (issue 14).

Real processes: a simulated device on a pty, the dropping agent (dropping_agent.py: the
real agent with readings 60..79 removed before signing), a real `edgeseal verifier`
with ``gap_margin_batches = 2`` on one mosquitto. The verifier accepts every batch (each
is well signed and chained) and reports the hole: in the accepted verdict it publishes,
in its log, and in `edgeseal completeness`, which exits 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from agent_helpers import ROOT, persistent_broker
from campaign_trial import Trial, TrialPlan
from verifier_mqtt import VerdictListener, wait_until

from edgeseal.testing.devices import simulated_device
from edgeseal.wire.topics import Topics

DROPPED = (60, 79)


def test_silently_dropped_readings_are_an_unexplained_gap(tmp_path: Path) -> None:
    plan = TrialPlan(seed=142, readings=300, rate=300, verifiers=1, events=())
    with persistent_broker() as broker:
        trial = Trial(tmp_path / "trial", broker.port, 2, plan)
        with trial.verifier_toml.open("a", encoding="utf-8") as f:
            f.write("\n[limits]\ngap_margin_batches = 2\n")
        listener = VerdictListener(broker.port, Topics(trial.prefix))
        trial.workers = [None]
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            EDGESEAL_DROP_FIRST=str(DROPPED[0]),
            EDGESEAL_DROP_LAST=str(DROPPED[1]),
        )
        try:
            trial.start_verifier(0)
            # Batches published before the verifier's shared subscription exists are dropped
            # by the broker and re-published by the agent later, after the ones behind them:
            # those would be held (pending) first. Subscribed first, they arrive in order.
            verifier = trial.workers[0]
            assert verifier is not None
            verifier.wait_subscribed()
            with simulated_device(
                device_id=trial.device_id,
                rate=plan.rate,
                count=plan.readings,
                exit_when_done=True,
                seed=plan.seed,
                link=trial.tmp / "ttyDEV",
            ) as dev:
                with trial.agent_log.open("ab") as log:
                    trial.agent = subprocess.Popen(
                        [
                            sys.executable,
                            str(Path(__file__).with_name("dropping_agent.py")),
                            "--config",
                            str(trial.agent_config(dev.port)),
                        ],
                        stdout=log,
                        stderr=log,
                        env=env,
                        cwd=ROOT,
                    )
                assert dev.wait(60) == 0
            summary = dev.summary
            assert summary is not None
            (boot,) = summary["boots"]
            wait_until(trial.outbox_empty, 30, "every batch acknowledged")

            def reported() -> list[dict[str, Any]]:
                return [g for v in listener.snapshot() for g in v.get("unexplained_gaps", [])]

            wait_until(lambda: bool(reported()), 10, "a verdict naming the unexplained gap")
        finally:
            trial.stop()
            listener.close()
    assert reported() == [
        {
            "gateway_id": trial.gateway_id,
            "device_id": trial.device_id,
            "boot_id": boot["boot_id"],
            "first_seq": DROPPED[0],
            "last_seq": DROPPED[1],
        }
    ]
    # In order, every batch is accepted on arrival (a re-publish is a duplicate); the
    # gap reported on release from held is test_gap_arrival_order.py's.
    verdicts = [(v["seq"], v["verdict"]) for v in listener.snapshot()]
    assert all(verdict in ("accepted", "duplicate") for _, verdict in verdicts), verdicts
    verifier_log = "".join(p.read_text() for p in trial.tmp.glob("verifier-*.log"))
    assert (
        f"unexplained gap: gateway {trial.gateway_id} device {trial.device_id} "
        f"boot {boot['boot_id']}: seqs {DROPPED[0]}..{DROPPED[1]}" in verifier_log
    )
    out = subprocess.run(
        [sys.executable, "-m", "edgeseal", "completeness", "--store", str(trial.store_path)]
        + ["--json", "--device", str(trial.device_id)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stderr
    (account,) = json.loads(out.stdout)["accounts"]
    assert account["status"] == "incomplete"
    assert account["stored"] == boot["generated"] - (DROPPED[1] - DROPPED[0] + 1)
    assert [(g["first_seq"], g["last_seq"]) for g in account["gaps"]] == [DROPPED]
