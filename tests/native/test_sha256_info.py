"""``edgeseal info`` and ``python -m edgeseal.native info`` report the C dispatcher's choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from edgeseal import native


def _run(args: list[str], env_value: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("EDGESEAL_SHA256", None)
    if env_value is not None:
        env["EDGESEAL_SHA256"] = env_value
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=False
    )


def test_module_info_json_matches_the_dispatcher() -> None:
    result = _run(["-m", "edgeseal.native", "info", "--json"])
    assert result.returncode == 0, result.stderr
    reported = json.loads(result.stdout)
    info = native.dispatch_info()
    assert reported["available"] == list(info.available)
    assert reported["cpu_features"] == list(info.cpu_features)
    if not info.forced_by_env:
        assert reported["active"] == info.active
    assert reported["forced_by_env"] is False


def test_edgeseal_info_text_names_variant_and_features() -> None:
    result = _run(["-m", "edgeseal.cli", "info"], env_value="portable")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "sha256 variant:   portable (forced by EDGESEAL_SHA256=portable)"
    assert lines[1].startswith("available:        portable")
    features = ", ".join(native.dispatch_info().cpu_features) or "(none relevant)"
    assert lines[2] == f"cpu features:     {features}"


def test_info_says_when_the_environment_variable_was_ignored() -> None:
    result = _run(["-m", "edgeseal.native", "info"], env_value="no-such-variant")
    assert result.returncode == 0, result.stderr
    assert "EDGESEAL_SHA256='no-such-variant' ignored" in result.stdout


def test_module_without_subcommand_is_a_usage_error() -> None:
    result = _run(["-m", "edgeseal.native"])
    assert result.returncode == 2
    assert "usage: python -m edgeseal.native" in result.stderr
