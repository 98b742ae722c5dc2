"""The systemd units in docs/ and the example witness configuration.

Every Exec line of every unit is parsed by the subcommand's own argument parser (an
option renamed in the CLI fails here, not on an operator's host), the units keep to
the exit-status contract the daemons follow (2: a start-up error retrying cannot cure),
and the witness unit's start check runs for real against examples/witness.toml.
"""

from __future__ import annotations

import argparse
import configparser
import importlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgeseal.cli import COMMANDS
from edgeseal.plumbing.config_toml import read_toml
from edgeseal.plumbing.keyfile import save_private_key
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.witness.config import load_witness_config

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "docs").glob("*.service"))
INSTALLED = "/usr/local/bin/edgeseal"


def unit(path: Path) -> configparser.ConfigParser:
    # systemd allows a key more than once (DeviceAllow=); values are not interpolated.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


class RaisingParser(argparse.ArgumentParser):
    """Raises with argparse's own message instead of printing it and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def exec_lines(path: Path) -> list[list[str]]:
    service = unit(path)["Service"]
    return [shlex.split(service[k]) for k in ("ExecStartPre", "ExecStart") if k in service]


def test_there_is_a_unit_for_each_daemon() -> None:
    assert [u.name for u in UNITS] == [
        "edgeseal-agent.service",
        "edgeseal-verifier.service",
        "edgeseal-witness.service",
    ]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_exec_line_parses_with_the_commands_own_options(path: Path) -> None:
    for argv in exec_lines(path):
        assert argv[0] == INSTALLED, argv
        name, rest = argv[1], argv[2:]
        assert name in COMMANDS, f"{path.name}: no command {name!r}"
        parser = RaisingParser(prog=f"edgeseal {name}")
        importlib.import_module(COMMANDS[name].module).configure(parser)
        try:
            parser.parse_args(rest)
        except ValueError as exc:
            raise AssertionError(f"{path.name}: {shlex.join(argv)}: {exc}") from None


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_restart_what_a_restart_cures_and_run_unprivileged(path: Path) -> None:
    service = unit(path)["Service"]
    assert service["User"] not in ("", "root"), path.name
    assert service["Restart"] in ("always", "on-failure"), path.name
    # Every daemon exits with 2 on a start-up error (configuration, key, refused login).
    assert service["RestartPreventExitStatus"] == "2", path.name
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    # The only writable place is its own state directory.
    assert service["ReadWritePaths"] == f"/var/lib/{service['StateDirectory']}", path.name


def test_the_example_witness_config_parses_and_its_unit_start_check_runs(
    tmp_path: Path,
) -> None:
    example = ROOT / "examples" / "witness.toml"
    config = load_witness_config(example)
    assert config.name == "witness.example.org/w1" and "example.org/edgeseal/log" in config.logs
    # The example with its paths moved to a temporary directory, as an operator edits it.
    key = Ed25519PrivateKey.generate()
    save_private_key(key, tmp_path / "witness.key")
    data = read_toml(example, "witness config")
    data["witness"]["key"] = str(tmp_path / "witness.key")
    data["witness"]["state"] = str(tmp_path / "witness.sqlite")
    (tmp_path / "witness.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    (pre,) = [
        a for a in exec_lines(ROOT / "docs" / "edgeseal-witness.service") if "--print-vkey" in a
    ]
    argv = [sys.executable, "-m", "edgeseal", *pre[1:]]
    argv[argv.index("/etc/edgeseal/witness.toml")] = str(tmp_path / "witness.toml")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == CosignatureSigner(config.name, key).verifier_key()
    # A key file others can read is a start-up error: status 2, which the unit does not
    # restart.
    (tmp_path / "witness.key").chmod(0o644)
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2, refused.stderr
