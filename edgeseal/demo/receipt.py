"""The end of the story: a third-party receipt for one accepted reading, checked with
``edgeseal check-receipt``, and a forged copy of it that must be refused.

The receipt is of version 2 once a published checkpoint of the log includes the
reading's batch (a few seconds after it was accepted): it is then checked through the
log, the witness's cosignature and the anchors (docs/anchoring.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeseal.demo.processes import run_edgeseal
from edgeseal.demo.settings import GATEWAY_ID

# (device_id, boot_id, device_seq, batch seq) of a reading in an accepted batch
Candidate = tuple[int, int, int, int]


@dataclass(frozen=True)
class ReceiptResult:
    ref: str = ""  # which reading, for the summary
    valid: bool = False  # check-receipt accepted the receipt
    tamper_caught: bool = False  # ... and refused the forged copy
    detail: str = ""  # check-receipt's last line, or why there is no receipt
    anchored: bool = False  # a version 2 receipt: checked through the log to the anchors


# How long to wait for a checkpoint that includes the reading's batch (a few intervals).
LOGGED_WITHIN_S = 20.0


def prove_one_reading(
    workdir: Path,
    verifier_toml: Path,
    public_key: bytes,
    candidate: Candidate | None,
    trust_args: Sequence[str] = (),
) -> ReceiptResult:
    """Write the receipt of one accepted reading, check it, and check that a forgery fails.

    ``trust_args``: check-receipt's options naming the log's key, the witness and the TSA;
    with them the receipt must be of version 2 (the batch in a published checkpoint).
    """
    if candidate is None:
        return ReceiptResult(detail="no accepted batch to take a reading from")
    device_id, boot_id, device_seq, batch_seq = candidate
    reading = f"{GATEWAY_ID}/{device_id}/{device_seq}"
    ref = f"{reading} (boot {boot_id}, batch {batch_seq})"
    path = workdir / "receipt.json"
    deadline = time.monotonic() + LOGGED_WITHIN_S
    while True:
        made = run_edgeseal(
            workdir,
            "receipt",
            "--reading",
            reading,
            "--boot",
            str(boot_id),
            "--config",
            str(verifier_toml),
            "-o",
            str(path),
        )
        if made.returncode != 0:
            return ReceiptResult(
                ref, detail=f"edgeseal receipt failed: {made.stderr.strip()[-500:]}"
            )
        anchored = "log" in json.loads(path.read_text(encoding="utf-8"))
        if anchored or not trust_args or time.monotonic() > deadline:
            break
        time.sleep(1.0)  # the next checkpoint, its cosignature and anchors are on the way
    trust = ["--expect-key", public_key.hex(), *trust_args]
    checked = run_edgeseal(workdir, "check-receipt", str(path), *trust)
    valid = checked.returncode == 0
    detail = (checked.stdout.strip().splitlines() or [checked.stderr.strip()])[-1]
    # The same receipt with the reading's value changed must be refused.
    forged = forge(path.read_text(encoding="utf-8"))
    if forged is None:
        return ReceiptResult(ref, valid, detail=detail, anchored=anchored)
    forged_path = workdir / "receipt-forged.json"
    forged_path.write_text(forged, encoding="utf-8")
    refused = run_edgeseal(workdir, "check-receipt", str(forged_path), *trust)
    return ReceiptResult(
        ref, valid, tamper_caught=refused.returncode == 1, detail=detail, anchored=anchored
    )


def forge(receipt_text: str) -> str | None:
    """The receipt with the reading's mantissa changed by one (a forged measurement)."""
    receipt = json.loads(receipt_text)
    reading = receipt.get("reading")
    if not isinstance(reading, dict) or not isinstance(reading.get("mantissa"), int):
        return None
    reading["mantissa"] += 1
    return json.dumps(receipt, indent=2)
