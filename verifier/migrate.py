"""``edgeseal verifier-migrate``: bring a verifier store to this code's schema version.

The verifier upgrades its store when it opens it; this command does the same on its
own, so an operator can see what will change (``--dry-run``) and upgrade before
starting workers. A store written by a newer edgeseal is refused: stores are never
downgraded. Works on both backends (``[store] path`` for SQLite, ``url`` for
PostgreSQL).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

from edgeseal.verifier.config import ConfigError, load_config
from edgeseal.verifier.store import SCHEMA_VERSION, StoreError, VerifierStore, check_schema_version
from edgeseal.verifier.store_postgres import PgConnection, is_postgres_url

log = logging.getLogger(__name__)

# What each schema version adds, applied in order to an older store.
MIGRATIONS: dict[int, str] = {
    2: "quarantine rows keep a digest, length, repeat count and budget; byte budgets",
    3: "accepted_losses: gaps an operator declared lost",
    4: "the transparency log, its first entries the batches accepted so far",
    5: "completeness accounts, started from the readings stored so far",
}


@dataclass(frozen=True)
class MigrationPlan:
    where: str
    found: int | None  # None: an empty store (created at the current version)
    steps: tuple[int, ...]

    def describe(self) -> str:
        if self.found is None:
            return f"{self.where}: empty; it will be created at schema version {SCHEMA_VERSION}"
        if not self.steps:
            return f"{self.where}: schema version {self.found}, up to date"
        lines = [f"{self.where}: schema version {self.found} -> {SCHEMA_VERSION}"]
        lines += [f"  {v}: {MIGRATIONS[v]}" for v in self.steps]
        return "\n".join(lines)


def schema_version(location: Path | str) -> int | None:
    """The schema version of a store, read without changing it (None: empty store).

    Raises StoreError for a store this code cannot read (newer, or not a store).
    """
    found: str | None
    if isinstance(location, str) and is_postgres_url(location):
        pg = PgConnection(location)
        where = pg.where
        try:
            found = None
            if pg.execute("SELECT to_regclass('meta')").fetchone()[0] is not None:
                row = pg.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                found = row[0] if row is not None else None
        finally:
            pg.close()
    else:
        path = Path(location)
        where = str(path)
        if not path.exists():
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            row = (
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if has_meta
                else None
            )
            found = row[0] if row is not None else None
        finally:
            conn.close()
    if found is None:
        return None
    check_schema_version(str(found), where)
    return int(found)


def plan(location: Path | str, where: str) -> MigrationPlan:
    found = schema_version(location)
    steps = () if found is None else tuple(range(found + 1, SCHEMA_VERSION + 1))
    return MigrationPlan(where, found, steps)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="verifier.toml")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change, change nothing"
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"edgeseal verifier-migrate: {exc}", file=sys.stderr)
        return 2
    location, where = config.store.location, config.store.where
    try:
        todo = plan(location, where)
        print(todo.describe())
        if args.dry_run or (todo.found is not None and not todo.steps):
            return 0
        VerifierStore(location, busy_timeout_s=config.store.busy_timeout_s).close()
        after = schema_version(location)
    except (StoreError, sqlite3.Error) as exc:
        print(f"edgeseal verifier-migrate: {exc}", file=sys.stderr)
        return 2
    print(f"{where}: now at schema version {after}")
    return 0
