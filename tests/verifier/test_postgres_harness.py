"""edgeseal.testing.postgres: a real PostgreSQL server, stopped abruptly and started again."""

from __future__ import annotations

import os

import psycopg
import pytest

from edgeseal.testing.postgres import PostgresServer


def test_server_keeps_committed_rows_across_an_immediate_stop() -> None:
    with PostgresServer() as pg:
        url = pg.create_database("harness")
        assert url == f"postgresql://edgeseal@127.0.0.1:{pg.port}/harness"
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (v INTEGER)")
            conn.execute("INSERT INTO t VALUES (7)")
        if os.geteuid() == 0:
            # PostgreSQL refuses root: the harness runs it as an unprivileged account.
            assert pg.data_dir.stat().st_uid != 0
        pg.stop()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        pg.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT v FROM t").fetchall() == [(7,)]
        workdir = pg.workdir
    assert workdir is not None and not workdir.exists()


def test_database_names_are_checked() -> None:
    with PostgresServer() as pg, pytest.raises(ValueError, match="database name"):
        pg.create_database("x; DROP")


def test_trusted_networks_are_written_before_the_first_start() -> None:
    with PostgresServer(trust_networks=("10.77.0.0/24",)) as pg:
        hba = (pg.data_dir / "pg_hba.conf").read_text(encoding="utf-8")
        assert "host all all 10.77.0.0/24 trust" in hba
        os.kill(pg.pid, 0)  # the postmaster runs
