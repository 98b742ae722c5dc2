"""``edgeseal verifier-migrate``: a store written by the current release (a fixture made
by it: tests/verifier/data/store_schema5.sqlite, one gateway with seqs 1-2 accepted and
4-5 held) and older schemas taken from it are upgraded; a newer store is refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from verifier_builders import config_toml

from edgeseal.cli import main as edgeseal_main
from edgeseal.verifier.migrate import schema_version
from edgeseal.verifier.store import SCHEMA_VERSION, VerifierStore

RELEASE_STORE = Path(__file__).parent / "data" / "store_schema5.sqlite"


def _store_and_config(tmp_path: Path) -> tuple[Path, Path]:
    path = tmp_path / "verifier.sqlite"
    shutil.copyfile(RELEASE_STORE, path)
    config = tmp_path / "verifier.toml"
    config.write_text(config_toml(path, {}, port=1883), encoding="utf-8")
    return path, config


def _as_schema_3(path: Path) -> None:
    """What a schema 3 verifier left: no transparency log, no completeness accounts."""
    conn = sqlite3.connect(path)
    for table in ("log_entries", "log_tiles", "log_checkpoints", "log_witnesses"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP TABLE account_holes")
    conn.execute("DROP TABLE accounts")
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()


def test_the_release_store_is_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = _store_and_config(tmp_path)
    assert schema_version(path) == SCHEMA_VERSION == 5
    assert edgeseal_main(["verifier-migrate", "--config", str(config)]) == 0
    assert "schema version 5, up to date" in capsys.readouterr().out
    with VerifierStore(path) as store:
        assert [s for _g, s, _h in store.accepted_batches("gw-1")] == [1, 2]
        assert [g.held_seqs for g in store.gaps()] == [(4, 5)]
        assert store.log.size() == 2


def test_an_older_store_is_planned_then_upgraded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = _store_and_config(tmp_path)
    _as_schema_3(path)
    assert edgeseal_main(["verifier-migrate", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "schema version 3 -> 5" in out and "  4: " in out and "  5: " in out
    assert schema_version(path) == 3  # the dry run changed nothing

    assert edgeseal_main(["verifier-migrate", "--config", str(config)]) == 0
    assert "now at schema version 5" in capsys.readouterr().out
    with VerifierStore(path) as store:
        assert store.log.size() == 2  # the accepted batches became the log's entries
        assert [g.held_seqs for g in store.gaps()] == [(4, 5)]
        assert store.reading_count("gw-1") > 0


def test_a_newer_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, config = _store_and_config(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    assert edgeseal_main(["verifier-migrate", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "schema version 6, newer than this verifier's 5" in err
    assert "upgrade edgeseal" in err


def test_verifier_migrate_is_also_spelled_as_a_verifier_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`edgeseal verifier migrate` (as issue 15 spells it) runs verifier-migrate."""
    path, config = _store_and_config(tmp_path)
    _as_schema_3(path)
    assert edgeseal_main(["verifier", "migrate", "--config", str(config)]) == 0
    assert "now at schema version 5" in capsys.readouterr().out
    assert schema_version(path) == 5
