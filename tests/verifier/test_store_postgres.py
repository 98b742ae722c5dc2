"""The verifier's store on PostgreSQL: the store tests of the SQLite store, run again
with the ``store`` fixture on a real PostgreSQL server (one server for the module, one
fresh database per test), plus what only PostgreSQL has."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import test_accounts
import test_verifier_store_limits

# The same tests, collected again in this module: its ``store`` fixture overrides the
# SQLite one of conftest.py.
from test_accounts import (  # noqa: F401
    test_a_loss_notice_for_an_unknown_boot_is_refused,
    test_a_loss_notice_over_stored_readings_is_refused,
    test_an_old_format_batch_of_readings_only_is_read_and_accounted,
    test_readings_and_loss_notices_make_a_complete_account,
)
from test_log_store import *
from test_verifier_accept_loss import *
from test_verifier_altered_copies import *
from test_verifier_pipeline import *
from test_verifier_pipeline import processor as pipeline_processor
from test_verifier_pipeline import send as pipeline_send
from test_verifier_receipts import *
from test_verifier_store_limits import *
from verifier_builders import GatewayChain, batch_topic, config_toml

from edgeseal.cli import main as edgeseal_main
from edgeseal.testing.postgres import PostgresServer
from edgeseal.verifier.api_queries import ApiQueries
from edgeseal.verifier.log_http import read_only
from edgeseal.verifier.log_store import LogStore
from edgeseal.verifier.migrate import schema_version
from edgeseal.verifier.store import StoreError, VerifierStore, now_us
from edgeseal.wire.batch import SealedBatch

# These write a verifier.toml naming the store by its SQLite path; the PostgreSQL
# report is tested below with store.url.
del test_operator_report_shows_heads_gaps_and_quarantine  # noqa: F821
del test_the_report_names_enrolled_gateways_with_no_accepted_batch  # noqa: F821
# This one gives the receipt command the SQLite file's path.
del test_cli_writes_and_checks_a_receipt  # noqa: F821

_names = itertools.count()


@pytest.fixture(autouse=True)
def _read_through_the_store(store: VerifierStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite tests read the store's file beside the store: test_accounts through a
    second, read-only connection, test_verifier_store_limits for its size. Here the
    accounts are read through the PostgreSQL store's own connection, and the size is
    that of the test's tables (TOAST and indexes included)."""
    monkeypatch.setattr(
        test_accounts, "conn_of", lambda _store: contextlib.nullcontext(store._conn)
    )
    monkeypatch.setattr(test_verifier_store_limits, "store_bytes", _tables_bytes)


def _tables_bytes(store: VerifierStore) -> int:
    row = store._conn.execute(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
    ).fetchone()
    return int(row[0])


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def stores_database(postgres: PostgresServer) -> str:
    return postgres.create_database("stores")


@pytest.fixture
def store(stores_database: str) -> Iterator[VerifierStore]:
    """A store of its own for each test: a fresh schema of one database (much cheaper
    than a database per test), named by the URL's search_path."""
    schema = f"store_{next(_names)}"
    with psycopg.connect(stores_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    s = VerifierStore(f"{stores_database}?options=-csearch_path%3D{schema}")
    try:
        yield s
    finally:
        s.close()


def _pg_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "verifier.toml"
    text = config_toml(tmp_path / "unused.sqlite", {}, port=1883)
    config.write_text(
        text.replace(f'path = "{tmp_path / "unused.sqlite"}"', f'url = "{url}"'),
        encoding="utf-8",
    )
    return config


def test_migrate_creates_then_finds_a_postgres_store_and_refuses_a_newer_one(
    postgres: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.create_database("migrate")
    config = _pg_config(tmp_path, url)
    assert edgeseal_main(["verifier-migrate", "--config", str(config), "--dry-run"]) == 0
    assert "empty; it will be created at schema version 5" in capsys.readouterr().out
    assert schema_version(url) is None
    assert edgeseal_main(["verifier-migrate", "--config", str(config)]) == 0
    assert "now at schema version 5" in capsys.readouterr().out
    assert edgeseal_main(["verifier-migrate", "--config", str(config)]) == 0
    assert "schema version 5, up to date" in capsys.readouterr().out

    with psycopg.connect(url) as conn:
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    assert edgeseal_main(["verifier-migrate", "--config", str(config)]) == 2
    assert "newer than this verifier's 5" in capsys.readouterr().err
    with pytest.raises(StoreError, match="schema version 6, newer"):
        VerifierStore(url)


def test_report_reads_a_postgres_store_named_by_url(
    postgres: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = postgres.create_database("report")
    gw = GatewayChain()
    with VerifierStore(url) as store:
        proc = pipeline_processor(store, gw)
        b1, _lost, b3 = gw.batches(3)
        pipeline_send(proc, b1)
        pipeline_send(proc, b3)
        pipeline_send(proc, b"junk")
    config = _pg_config(tmp_path, url)
    text = config.read_text(encoding="utf-8")
    config.write_text(text + f'"gw-1" = "{gw.enrolled_key.hex()}"\n', encoding="utf-8")
    assert edgeseal_main(["verifier", "--config", str(config), "--report"]) == 1  # a gap
    out = capsys.readouterr().out
    assert "gw-1: seq 1, 4 readings" in out
    assert "gw-1: WAITING FOR SEQ 2; holding 1 batch(es) (seqs 3)" in out
    assert "gw-1: malformed x 1" in out


def _race_worker(
    url: str, keys: dict[str, bytes], work: list[tuple[str, bytes]], name: str
) -> None:
    from edgeseal.verifier.pipeline import BatchProcessor
    from edgeseal.verifier.trust import TrustStore

    with VerifierStore(url) as store:
        proc = BatchProcessor(store, TrustStore(keys), worker=name)
        for topic, payload in work:
            proc.handle(topic, payload)


def test_two_worker_processes_race_on_the_same_gateways_and_accept_each_batch_once(
    postgres: PostgresServer,
) -> None:
    """Two processes get every batch of three gateways (as a redelivering bus would give
    them), plus a fork of each gateway's seq 2: each batch is accepted once, no fork,
    and the transparency log has one entry per accepted batch, indexes 0..n-1."""
    import multiprocessing

    url = postgres.create_database("race")
    VerifierStore(url).close()
    chains = [GatewayChain(gateway_id=f"gw-{i}") for i in range(3)]
    work: list[tuple[str, bytes]] = []
    forks: list[tuple[str, bytes]] = []
    for chain in chains:
        batches = chain.batches(12)
        work += [(batch_topic(chain.gateway_id), b.to_payload()) for b in batches]
        rival = GatewayChain(gateway_id=chain.gateway_id, key=chain.key)
        rival.next_batch()
        rival.prev_hash = batches[0].hash
        forks.append((batch_topic(chain.gateway_id), rival.next_batch(5).to_payload()))
    keys = {c.gateway_id: c.enrolled_key for c in chains}
    ctx = multiprocessing.get_context("fork")
    workers = [
        ctx.Process(target=_race_worker, args=(url, keys, order, f"w{n}"))
        for n, order in enumerate([work + forks, list(reversed(work)) + forks])
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    with VerifierStore(url) as store:
        for chain in chains:
            seqs = [s for _g, s, _h in store.accepted_batches(chain.gateway_id)]
            assert seqs == list(range(1, 13))
            assert store.reading_count(chain.gateway_id) == 12 * 4
        accepted = {h for _g, _s, h in store.accepted_batches()}
        assert {SealedBatch.from_payload(f[1]).hash for f in forks}.isdisjoint(accepted)
        assert store.log.size() == 36
        indexes = store._conn.execute("SELECT log_index FROM log_entries ORDER BY 1").fetchall()
        assert [r[0] for r in indexes] == list(range(36))


def test_the_console_queries_and_the_read_commands_read_a_postgres_store(
    store: VerifierStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What reads the store beside the workers: the console's API queries, the log's HTTP
    reads, ``edgeseal receipt`` and ``edgeseal completeness`` (store.url in the config)."""
    assert store.postgres is not None
    url = store.postgres.url
    gw = GatewayChain()
    proc = pipeline_processor(store, gw)
    b1, b2, _lost, b4 = gw.batches(4)
    for sealed in (b1, b2, b4):
        pipeline_send(proc, sealed)
    pipeline_send(proc, b"junk")
    queries = ApiQueries(url)
    (summary,) = queries.gateways({"gw-1": gw.enrolled_key}, now_us())
    assert summary["gateway_id"] == "gw-1" and summary["head_seq"] == 2
    assert summary["held"] == 1
    assert queries.has_gateway("gw-1") and not queries.has_gateway("gw-9")
    assert queries.quarantine(latest=5, gateway_id=None)["by_reason"] == {"malformed": 1}
    assert queries.quarantine(latest=5, gateway_id="gw-1")["by_reason"] == {"malformed": 1}
    assert queries.quarantine(latest=5, gateway_id="gw-9")["by_reason"] == {}
    page = queries.readings("gw-1", device_id=None, from_us=0, to_us=2**62, limit=5, after=None)
    assert len(page.items) == 5 and page.next_after is not None
    assert [i["batch_seq"] for i in page.items] == [1, 1, 1, 1, 2]
    empty = queries.readings("gw-9", device_id=None, from_us=0, to_us=1, limit=5, after=None)
    assert empty.items == []
    assert queries.device_boots("gw-1")[0] is True
    conn = read_only(url)()
    try:
        conn.execute("BEGIN")
        assert LogStore(conn).size() == 2
        with pytest.raises(sqlite3.Error):
            conn.execute("DELETE FROM log_entries")  # the console's connections only read
    finally:
        conn.close()

    config = _pg_config(tmp_path, url)
    reading = f"gw-1/{gw.device_id}/1"
    assert edgeseal_main(["receipt", "--reading", reading, "--config", str(config)]) == 0
    assert '"inclusion_proof"' in capsys.readouterr().out
    assert edgeseal_main(["completeness", "--config", str(config)]) == 0
    assert "account(s)" in capsys.readouterr().out


def test_a_store_reconnects_after_the_server_restarts(postgres: PostgresServer) -> None:
    url = postgres.create_database("restart")
    gw = GatewayChain()
    with VerifierStore(url) as store:
        proc = pipeline_processor(store, gw)
        b1, b2 = gw.batches(2)
        pipeline_send(proc, b1)
        postgres.stop()
        try:
            with pytest.raises(sqlite3.OperationalError, match="PostgreSQL store"):
                pipeline_send(proc, b2)
        finally:
            postgres.start()
        # The same store object: a new connection at the next transaction.
        assert pipeline_send(proc, b2)[0].outcome.value == "accepted"
        assert [s for _g, s, _h in store.accepted_batches()] == [1, 2]
        assert store.log.size() == 2


def test_a_writer_waits_for_the_write_lock_no_longer_than_busy_timeout(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("locked")
    with VerifierStore(url) as holder, VerifierStore(url, busy_timeout_s=0.5) as waiter:
        with (
            holder.write(),
            pytest.raises(sqlite3.OperationalError, match="lock timeout"),
            waiter.write(),
        ):
            pass
        with waiter.write():  # free again, and the failed transaction left nothing open
            pass
