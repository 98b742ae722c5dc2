"""A device boot announced after its readings, and announced again, on both stores.

Regression: on PostgreSQL the announcement's upsert named its columns unqualified and
used SQLite's two-argument MIN(); the first boot event of a boot whose account already
existed stopped the worker ("column reference first_seq is ambiguous"). The account
keeps the smallest first_seq announced and the last non-empty firmware version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_accounts import BOOT, DEV, GW, EventGateway, processor, readings, send

from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.store import VerifierStore
from edgeseal.verifier.verdict import Outcome
from edgeseal.wire.event import DeviceBoot


@pytest.fixture(params=["sqlite", "postgresql"])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VerifierStore]:
    if request.param == "sqlite":
        with VerifierStore(tmp_path / "verifier.sqlite", synchronous="normal") as store:
            yield store
        return
    with PostgresServer() as server, VerifierStore(server.create_database("accounts")) as store:
        yield store


def test_a_boot_announced_after_its_readings_and_again_keeps_one_account(
    either_store: VerifierStore,
) -> None:
    gw = EventGateway()
    proc = processor(either_store, gw)
    verdicts = [
        send(proc, gw.batch(readings(range(1, 5)))),  # the account exists, not announced
        send(proc, gw.batch([DeviceBoot(DEV, BOOT, 3, "fw 2"), *readings(range(5, 7))])),
        send(proc, gw.batch([DeviceBoot(DEV, BOOT, 1, ""), *readings(range(7, 9))])),
    ]
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED] * 3, [v.detail for v in verdicts]
    account = either_store.accounts.account(GW, DEV, BOOT)
    assert account is not None
    assert account.announced and account.announced_first_seq == 1
    assert account.firmware_version == "fw 2"
    assert (account.stored, account.last_seq) == (8, 8)
