"""The summary printed at the end, and the verdict on the whole run (the exit status)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from edgeseal.demo.errors import EXIT_FAILED, EXIT_OK
from edgeseal.demo.receipt import ReceiptResult
from edgeseal.demo.settings import DemoSettings
from edgeseal.demo.watcher import Progress


@dataclass
class Outcome:
    """What the run ended with, beyond what the watcher saw on the broker."""

    generated: int = 0  # readings the devices made
    signed: int = 0  # readings the agent signed
    published: int = 0  # batches seen on the broker
    chain_seq: int = 0  # the last accepted batch's sequence number
    receipt: ReceiptResult = field(default_factory=ReceiptResult)


def print_summary(
    out: TextIO,
    settings: DemoSettings,
    broker_name: str,
    progress: Progress,
    outcome: Outcome,
    wall_s: float,
) -> int:
    """Print the summary; EXIT_OK when every published reading was verified, nothing was
    quarantined and the receipt held (its forgery refused), else EXIT_FAILED."""
    with progress.lock:
        verdicts = dict(progress.verdicts)
        accepted_readings = progress.readings_accepted
        in_batches = progress.readings_in_batches
        problems = list(progress.problems)
    accepted = verdicts.get("accepted", 0)
    quarantined = verdicts.get("quarantined", 0)
    pending = verdicts.get("pending", 0)
    receipt = outcome.receipt
    lines = [
        "",
        f"summary ({wall_s:.1f} s in all, devices ran {settings.seconds:g} s; broker: {broker_name})",
        f"  devices:  {settings.devices} simulated, {outcome.generated} readings generated",
        (
            f"  agent:    {outcome.signed} readings signed, {outcome.published} batches "
            f"published ({in_batches} readings)"
        ),
        (
            f"  verifier: {accepted} batches accepted ({accepted_readings} readings, chain up "
            f"to seq {outcome.chain_seq}), {quarantined} quarantined, {pending} held"
        ),
        f"  receipt:  {receipt.ref or '-'} -> receipt.json; edgeseal check-receipt: "
        + ("VALID" if receipt.valid else f"NOT VALID ({receipt.detail})"),
    ]
    if receipt.valid:
        lines.append(
            "            "
            + (
                "checked through the log: inclusion, the log's signature, the witness's "
                "cosignature, the TSA token and the chain's record"
                if receipt.anchored
                else "NOT in a published checkpoint yet (the log part was not checked)"
            )
        )
    if receipt.valid:
        lines.append(
            "            a copy with the reading's value changed by one is "
            + ("refused, as it must be" if receipt.tamper_caught else "NOT refused (this is a bug)")
        )
    lines += [f"  problem:  {p}" for p in problems[:10]]
    all_verified = accepted_readings == in_batches
    ok = (
        accepted > 0
        and quarantined == 0
        and receipt.valid
        and receipt.tamper_caught
        and receipt.anchored
        and all_verified
    )
    lines.append(
        f"result: {'OK' if ok else 'FAILED'}: every published reading was "
        f"{'verified' if all_verified else 'NOT verified'}"
    )
    out.write("\n".join(lines) + "\n")
    out.flush()
    return EXIT_OK if ok else EXIT_FAILED
