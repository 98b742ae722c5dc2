"""One SQLite write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back whenever it fails.

The agent's outbox and the verifier's store both write through ``write_transaction``.
The connection must be in autocommit mode (``isolation_level=None``), so that the
transaction boundaries are the ones written here and no others.

A failed COMMIT is rolled back too. SQLite leaves the transaction open when COMMIT
fails with SQLITE_BUSY (a reader holds a lock the commit needs, or a write statement
of this connection is still running) or on a deferred constraint; a caller that only
sees the exception would otherwise keep the write lock, keep seeing its own
uncommitted rows, and fail every later BEGIN with "cannot start a transaction within
a transaction". After SQLITE_FULL, SQLITE_IOERR and a few other errors SQLite has
already rolled back by itself; then there is nothing left to undo.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def begin_immediate(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE: take the write lock now (waiting up to the busy timeout)."""
    conn.execute("BEGIN IMMEDIATE")


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


@contextmanager
def write_transaction(
    conn: sqlite3.Connection,
    *,
    begin: Callable[[sqlite3.Connection], None] = begin_immediate,
) -> Iterator[None]:
    """Run the block in one write transaction: committed if it returns, else rolled back.

    ``begin`` opens the transaction (default: ``BEGIN IMMEDIATE``); the verifier passes
    one that retries the write lock faster than SQLite's busy handler. If COMMIT fails,
    the transaction is rolled back and COMMIT's exception raised: nothing of the block
    is stored, and the connection is ready for the next transaction.
    """
    begin(conn)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        _rollback_after_failure(conn)
        raise


def _rollback_after_failure(conn: sqlite3.Connection) -> None:
    # The exception being raised says what went wrong; a failing ROLLBACK must not
    # replace it. It is logged, and the next BEGIN on this connection will fail.
    try:
        rollback(conn)
    except sqlite3.Error as exc:
        log.error(
            "ROLLBACK failed after a failed transaction (%s); the connection is unusable", exc
        )
