"""bench_verifier's case list: one run holds every store and bus it was asked for.

The figures themselves are benchmarks (no timing here); this checks that the flags
give the comparisons issue 15 asks for, side by side, and nothing twice.
"""

from __future__ import annotations

from benchmarks.bench_verifier import MQTT, Case, cases_for


def _combos(cases: list[Case], size: int, workers: int) -> set[tuple[str, str, str, str]]:
    return {
        (c.verifier, c.synchronous, c.store, c.bus)
        for c in cases
        if (c.size, c.workers) == (size, workers)
    }


def test_postgres_and_nats_give_every_store_on_every_bus() -> None:
    cases = cases_for([64, 1024], ["native"], postgres=True, nats="nats-r1")
    assert len(cases) == len(set(cases))
    for size in (64, 1024):
        assert _combos(cases, size, 1) == {
            ("native", "normal", "sqlite", MQTT),
            ("native", "full", "postgresql", MQTT),
            ("native", "normal", "sqlite", "nats-r1"),
            ("native", "full", "postgresql", "nats-r1"),
        }
        assert _combos(cases, size, 2) == _combos(cases, size, 1) | {
            ("native", "full", "sqlite", MQTT)
        }


def test_without_flags_the_shipped_cases_only() -> None:
    cases = cases_for([64], ["native", "pynacl"], postgres=False, nats=None)
    assert {c.bus for c in cases} == {MQTT}
    assert {c.store for c in cases} == {"sqlite"}
    assert _combos(cases, 64, 1) == {
        ("native", "normal", "sqlite", MQTT),
        ("pynacl", "normal", "sqlite", MQTT),
    }


def test_nats_without_postgres_stays_on_sqlite() -> None:
    cases = cases_for([256], ["native"], postgres=False, nats="nats-r3")
    assert {(c.store, c.bus) for c in cases if c.bus != MQTT} == {("sqlite", "nats-r3")}
    assert [c.workers for c in cases if c.bus != MQTT] == [1, 2]
