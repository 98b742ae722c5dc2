"""The campaign's accounting rule catches each kind of violation (no processes).

Device: boot 7 generated 10 and got 1..6 ACKed, then rebooted (7..10 lost with its
RAM, unless the agent stored one before it was killed); boot 9 generated 5, all ACKed.
"""

from __future__ import annotations

from campaign_audit import Key, account, reported_losses

BOOTS = [
    {"boot_id": 7, "generated": 10, "acked": 6},
    {"boot_id": 9, "generated": 5, "acked": 5},
]
STORED: set[Key] = {(7, s) for s in range(1, 8)} | {(9, s) for s in range(1, 6)}
REPORTED: set[Key] = {(7, s) for s in range(8, 11)}


def test_the_honest_record_passes() -> None:
    assert account(BOOTS, STORED, REPORTED) == []


def test_missing_reading() -> None:
    (problem,) = account(BOOTS, STORED - {(9, 3)}, REPORTED)
    assert "neither accepted nor reported lost" in problem and "(9, 3)" in problem


def test_unreported_loss() -> None:
    (problem,) = account(BOOTS, STORED, REPORTED - {(7, 10)})
    assert "neither accepted nor reported lost" in problem


def test_loss_reported_for_an_acked_reading() -> None:
    (problem,) = account(BOOTS, STORED - {(7, 5)}, REPORTED | {(7, 5)})
    assert problem.startswith("1 readings reported lost that the device did not lose")
    assert problem.endswith("first [(7, 5)]")


def test_loss_reported_in_the_last_boot() -> None:
    assert "did not lose" in account(BOOTS, STORED - {(9, 5)}, REPORTED | {(9, 5)})[0]


def test_loss_reported_beyond_what_was_generated() -> None:
    assert "did not lose" in account(BOOTS, STORED, REPORTED | {(7, 11)})[0]


def test_loss_reported_for_a_reading_that_arrived() -> None:
    assert account(BOOTS, STORED, REPORTED | {(7, 7)}) == [
        "1 readings reported lost yet accepted, first [(7, 7)]"
    ]


def test_accepted_reading_nobody_generated() -> None:
    assert "never generated" in account(BOOTS, STORED | {(9, 6)}, REPORTED)[0]


def test_loss_lines_are_read_per_device() -> None:
    log = (
        "WARNING edgeseal.agent.pipeline: device 5001 (boot 7) on /tmp/t/ttyDEV lost readings "
        "8..10 for good (its buffer overflowed or it rebooted before sending them)\n"
        "WARNING edgeseal.agent.pipeline: device 5002 (boot 7) on /tmp/t/ttyDEV lost readings "
        "1..3 for good (its buffer overflowed or it rebooted before sending them)\n"
    )
    assert reported_losses(log, 5001) == REPORTED
