"""The verifier's store on PostgreSQL: the store tests of the SQLite store, run again
with the ``store`` fixture on a real PostgreSQL server (one server for the module, one
fresh database per test), plus what only PostgreSQL has."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from test_log_store import *
from test_verifier_accept_loss import *

# The same tests, collected again in this module: its ``store`` fixture overrides the
# SQLite one of conftest.py.
from test_verifier_pipeline import *
from test_verifier_receipts import *
from test_verifier_store_limits import *

from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.store import VerifierStore

# These two write a verifier.toml naming the store by its SQLite path; the PostgreSQL
# report is tested below with store.url.
del test_operator_report_shows_heads_gaps_and_quarantine  # noqa: F821
del test_the_report_names_enrolled_gateways_with_no_accepted_batch  # noqa: F821
# These open the SQLite file by its path (a second connection, the receipt command).
del test_forged_batches_ahead_under_an_unknown_key_are_not_held  # noqa: F821
del test_quarantine_keeps_bounded_bytes_per_gateway_and_overall  # noqa: F821
del test_cli_writes_and_checks_a_receipt  # noqa: F821

_names = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def store(postgres: PostgresServer) -> Iterator[VerifierStore]:
    s = VerifierStore(postgres.create_database(f"store_{next(_names)}"))
    try:
        yield s
    finally:
        s.close()
