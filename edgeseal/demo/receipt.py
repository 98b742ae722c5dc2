"""The end of the story: a third-party receipt for one accepted reading, checked with
``edgeseal check-receipt``, and a forged copy of it that must be refused."""

from __future__ import annotations

import json
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


def prove_one_reading(
    workdir: Path, verifier_toml: Path, public_key: bytes, candidate: Candidate | None
) -> ReceiptResult:
    """Write the receipt of one accepted reading, check it, and check that a forgery fails."""
    if candidate is None:
        return ReceiptResult(detail="no accepted batch to take a reading from")
    device_id, boot_id, device_seq, batch_seq = candidate
    reading = f"{GATEWAY_ID}/{device_id}/{device_seq}"
    ref = f"{reading} (boot {boot_id}, batch {batch_seq})"
    path = workdir / "receipt.json"
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
        return ReceiptResult(ref, detail=f"edgeseal receipt failed: {made.stderr.strip()[-500:]}")
    checked = run_edgeseal(workdir, "check-receipt", str(path), "--expect-key", public_key.hex())
    valid = checked.returncode == 0
    detail = (checked.stdout.strip().splitlines() or [checked.stderr.strip()])[-1]
    # The same receipt with the reading's value changed must be refused.
    forged = forge(path.read_text(encoding="utf-8"))
    if forged is None:
        return ReceiptResult(ref, valid, detail=detail)
    forged_path = workdir / "receipt-forged.json"
    forged_path.write_text(forged, encoding="utf-8")
    refused = run_edgeseal(
        workdir, "check-receipt", str(forged_path), "--expect-key", public_key.hex()
    )
    return ReceiptResult(ref, valid, tamper_caught=refused.returncode == 1, detail=detail)


def forge(receipt_text: str) -> str | None:
    """The receipt with the reading's mantissa changed by one (a forged measurement)."""
    receipt = json.loads(receipt_text)
    reading = receipt.get("reading")
    if not isinstance(reading, dict) or not isinstance(reading.get("mantissa"), int):
        return None
    reading["mantissa"] += 1
    return json.dumps(receipt, indent=2)
