"""The campaign's accounting rule, apart from any process: ground truth against records.

``boots`` is the simulator's summary list (per boot, in order: ``boot_id``, ``generated``,
``acked``); ``stored`` the (boot_id, seq) the verifier accepted for the device;
``reported`` the (boot_id, seq) inside losses the agent reported for it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# The agent's WARNING for a SequenceGap (agent/pipeline.py, docs/serial-protocol.md).
LOSS_LINE = re.compile(r"device (\d+) \(boot (\d+)\) on \S+ lost readings (\d+)\.\.(\d+) for good")

Key = tuple[int, int]  # (boot_id, device_seq) of one device


def reported_losses(agent_log: str, device_id: int) -> set[Key]:
    """Every reading of ``device_id`` inside a loss the agent's log reports."""
    lost: set[Key] = set()
    for m in LOSS_LINE.finditer(agent_log):
        device, boot, first, last = (int(g) for g in m.groups())
        if device == device_id:
            lost.update((boot, seq) for seq in range(first, last + 1))
    return lost


def generated(boots: Sequence[dict[str, Any]]) -> set[Key]:
    return {(b["boot_id"], s) for b in boots for s in range(1, b["generated"] + 1)}


def suffered(boots: Sequence[dict[str, Any]]) -> set[Key]:
    """What the device really lost: the un-ACKed rest of every boot it left (the
    simulator drops its ring on reboot). The last boot is not left; the campaign's
    devices exit only once it is fully ACKed (--exit-when-done)."""
    return {
        (b["boot_id"], s) for b in boots[:-1] for s in range(b["acked"] + 1, b["generated"] + 1)
    }


def account(boots: Sequence[dict[str, Any]], stored: set[Key], reported: set[Key]) -> list[str]:
    """Every violation of the rule (empty: none): each generated reading accepted or
    inside a reported loss, each reported loss suffered, nothing accepted reported lost."""
    made, lost = generated(boots), suffered(boots)
    problems = []
    missing = sorted(made - stored - reported)
    if missing:
        problems.append(
            f"{len(missing)} generated readings neither accepted nor reported lost, "
            f"(boot, seq) first {missing[:5]} last {missing[-3:]}"
        )
    invented = sorted(stored - made)
    if invented:
        problems.append(f"accepted readings the device never generated: {invented[:5]}")
    false_loss = sorted(reported - lost)
    if false_loss:
        problems.append(
            f"{len(false_loss)} readings reported lost that the device did not lose "
            f"(ACKed, in its last boot, or never generated), first {false_loss[:5]}"
        )
    lost_but_arrived = sorted(reported & stored)
    if lost_but_arrived:
        problems.append(
            f"{len(lost_but_arrived)} readings reported lost yet accepted, "
            f"first {lost_but_arrived[:5]}"
        )
    return problems
