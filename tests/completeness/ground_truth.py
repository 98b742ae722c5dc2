"""The simulator's ground truth against the verifier's store, seq by seq.

Each seq a device generated must end up either stored as a reading or inside a loss
notice the verifier accepted; these helpers read that from a trial's store.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from campaign_trial import Trial
from verifier_mqtt import wait_until

from edgeseal.verifier.accounts import covered_seqs


def stored_seqs(db: sqlite3.Connection, trial: Trial, boot_id: int) -> set[int]:
    """The device_seq of every reading of the trial's device and ``boot_id`` stored."""
    return {
        s
        for (s,) in db.execute(
            "SELECT device_seq FROM readings WHERE gateway_id = ? AND device_id = ?"
            " AND boot_id = ?",
            (trial.gateway_id, trial.device_id, boot_id),
        )
    }


def open_store(trial: Trial) -> sqlite3.Connection:
    """The trial's store, read-only (the verifier may still be writing it)."""
    return sqlite3.connect(f"file:{trial.store_path}?mode=ro", uri=True)


def accounted(trial: Trial, boots: list[dict[str, Any]]) -> bool:
    """Every generated reading is stored or inside a loss notice the verifier accepted."""
    if not trial.store_path.exists():
        return False
    try:
        with open_store(trial) as db:
            for b in boots:
                stored = stored_seqs(db, trial, b["boot_id"])
                covered = covered_seqs(db, trial.gateway_id, trial.device_id, b["boot_id"])
                if not set(range(1, b["generated"] + 1)) <= stored | covered:
                    return False
    except sqlite3.OperationalError:
        return False  # the store's schema is not there yet
    return True


def diagnose(trial: Trial, boots: list[dict[str, Any]]) -> str:
    """What is missing, refused or held, for the failure message."""
    lines = [f"files in {trial.tmp}; simulator boots {boots}"]
    with open_store(trial) as db:
        for b in boots:
            stored = stored_seqs(db, trial, b["boot_id"])
            covered = covered_seqs(db, trial.gateway_id, trial.device_id, b["boot_id"])
            missing = sorted(set(range(1, b["generated"] + 1)) - stored - covered)
            lines.append(f"boot {b['boot_id']}: missing {missing[:10]}..{missing[-3:]}")
        lines += [str(r) for r in db.execute("SELECT reason, detail FROM quarantine LIMIT 3")]
        lines += [
            str(r)
            for r in db.execute(
                "SELECT kind, device_id, boot_id, first_seq, last_seq, reason FROM device_events"
            )
        ]
    return "\n".join(lines)


def wait_until_accounted(trial: Trial, boots: list[dict[str, Any]], timeout_s: float) -> None:
    """Wait until every reading is accounted for; else fail saying what is missing."""
    try:
        wait_until(lambda: accounted(trial, boots), timeout_s, "every reading accounted for")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose(trial, boots)}") from None
