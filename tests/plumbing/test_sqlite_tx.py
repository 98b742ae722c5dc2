"""write_transaction on real SQLite files: committed when the block returns, rolled
back when it raises and when COMMIT itself fails, whichever way SQLite fails it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeseal.plumbing.sqlite_tx import write_transaction


def connect(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    return sqlite3.connect(str(path), timeout=timeout, isolation_level=None)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(tmp_path / "t.sqlite", timeout=0.2)
    conn.execute("CREATE TABLE t (x INTEGER)")
    try:
        yield conn
    finally:
        conn.close()


def rows(conn: sqlite3.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT x FROM t ORDER BY x")]


def test_committed_when_the_block_returns(db: sqlite3.Connection, tmp_path: Path) -> None:
    with write_transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        assert db.in_transaction
    assert not db.in_transaction
    other = connect(tmp_path / "t.sqlite")
    assert rows(other) == [1]
    other.close()


def test_rolled_back_when_the_block_raises(db: sqlite3.Connection) -> None:
    with pytest.raises(KeyError), write_transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        raise KeyError("the caller's own error")
    assert not db.in_transaction and rows(db) == []


def test_a_commit_refused_with_sqlite_busy_is_rolled_back(
    db: sqlite3.Connection, tmp_path: Path
) -> None:
    # Rollback-journal mode: COMMIT needs an EXCLUSIVE lock, which a reader's SHARED
    # lock denies. SQLite answers SQLITE_BUSY and leaves the transaction open.
    reader = connect(tmp_path / "t.sqlite")
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM t").fetchone()
    with pytest.raises(sqlite3.OperationalError, match="locked"), write_transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction, "the failed COMMIT left the transaction open"
    assert rows(db) == []
    reader.execute("COMMIT")
    reader.close()
    with write_transaction(db):  # the connection is usable, the lock free
        db.execute("INSERT INTO t VALUES (2)")
    assert rows(db) == [2]


def test_after_sqlite_rolled_back_by_itself_its_error_is_the_one_raised(
    db: sqlite3.Connection,
) -> None:
    # SQLITE_FULL in a one-row INSERT makes SQLite roll the whole transaction back;
    # a ROLLBACK now would fail ("no transaction is active") and hide the real error.
    db.execute("INSERT INTO t VALUES (1)")
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    db.execute(f"PRAGMA max_page_count = {pages}")
    full = pytest.raises(sqlite3.OperationalError, match="database or disk is full")
    with full, write_transaction(db):
        db.execute("INSERT INTO t VALUES (2)")
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")  # needs new pages
    assert not db.in_transaction and rows(db) == [1]


def test_the_begin_function_is_used(db: sqlite3.Connection) -> None:
    begun: list[str] = []

    def begin(conn: sqlite3.Connection) -> None:
        begun.append("begin")
        conn.execute("BEGIN EXCLUSIVE")

    with write_transaction(db, begin=begin):
        db.execute("INSERT INTO t VALUES (3)")
    assert begun == ["begin"] and rows(db) == [3]
