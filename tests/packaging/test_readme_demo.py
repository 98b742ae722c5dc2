"""The README's set-up commands, taken from README.md, do what it says (issue 10, item 4).

The demo command is run as a new user runs it: in a copy of the tree that holds what
a clone holds (no .git, no build products, no venv, nothing beside it), from inside
the copy, with no venv active, on the embedded broker (no mosquitto on a fresh
machine). It makes its own venv there and installs from the package index, so it
needs the network, as a new user does.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"<!-- setup-command: (\w+)[^>]*-->\s*```sh\n(.*?)\n```", re.DOTALL)
# Passed after the command, which hands them to `edgeseal demo`: a short run on the
# broker a fresh machine has.
DEMO_ARGS = ("--seconds", "3", "--broker", "embedded")


def readme_commands() -> dict[str, str]:
    """The marked set-up commands of README.md, by name."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands: dict[str, str] = {}
    for name, block in MARKER.findall(text):
        lines = [line for line in block.splitlines() if line.strip()]
        assert len(lines) == 1, f"README: the {name} set-up command must be one line: {block!r}"
        commands[name] = lines[0].strip()
    return commands


def _gitignored(root: Path) -> Callable[[str, list[str]], set[str]]:
    """An ignore function for shutil.copytree: .git and what .gitignore names.

    Enough for this repository's .gitignore (names, globs, a trailing / for
    directories, patterns with a / anchored at the root); not a full gitignore parser.
    """
    patterns = [
        line.strip()
        for line in (root / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = {".git"} & set(names)
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            for pattern in patterns:
                if pattern.endswith("/") and not path.is_dir():
                    continue
                glob = pattern.rstrip("/")
                if fnmatch.fnmatch(relative if "/" in glob else name, glob.lstrip("/")):
                    ignored.add(name)
        return ignored

    return ignore


def _new_user_environment() -> dict[str, str]:
    """This environment without any venv or Python settings of the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    venvs = {Path(sys.prefix)} if sys.prefix != sys.base_prefix else set()
    if os.environ.get("VIRTUAL_ENV"):
        venvs.add(Path(os.environ["VIRTUAL_ENV"]))
    env["PATH"] = os.pathsep.join(
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if p and not any(Path(p).is_relative_to(v) for v in venvs)
    )
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_readme_has_the_two_set_up_commands() -> None:
    commands = readme_commands()
    assert sorted(commands) == ["demo", "test"], commands
    assert not any(c.startswith(("pip ", "pip3 ")) for c in commands.values()), commands
    # CI runs exactly the README's test command (with -q).
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^exec {re.escape(commands['test'])}( |$)", ci, re.MULTILINE), ci


@pytest.mark.slow
def test_readme_demo_command_in_a_fresh_copy(tmp_path: Path) -> None:
    command = readme_commands()["demo"]
    copy = tmp_path / "edgeseal"
    shutil.copytree(ROOT, copy, ignore=_gitignored(ROOT), symlinks=True)
    assert not (copy / ".venv").exists() and not list(copy.rglob("*.so"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edgeseal"]
    proc = subprocess.run(
        ["bash", "-c", f"{command} {shlex.join(DEMO_ARGS)}"],
        cwd=copy,
        env=_new_user_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, f"rc={proc.returncode}\n{out[-4000:]}\n{proc.stderr[-4000:]}"
    assert "broker: embedded amqtt broker" in out, out
    assert re.search(r"^result: OK: every published reading was verified$", out, re.MULTILINE), out
    # The install went into the copy's own venv, not anywhere else.
    assert (copy / ".venv" / "bin" / "edgeseal").is_file()
