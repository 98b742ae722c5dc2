"""An enrolled key the native core would refuse stops the verifier at start, naming
the gateway (issue 11 item 9): the identity point, ``ff..ff`` (not canonical) and
other small-order or off-curve encodings are mistakes in the file, not gateways."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgeseal.verifier.config import ConfigError, load_config

# 01 00..00 encodes the identity point (y = 1, x = 0): small order, every signature
# "verifies" under a naive check. ff..ff is not canonical (y >= p). ab..ab is no point.
BAD_KEYS = {
    "identity-point": "01" + "00" * 31,
    "all-ff-noncanonical": "ff" * 32,
    "all-zero-small-order": "00" * 32,
    "not-on-curve": "ab" * 32,
}
GOOD_KEY = "20bd55dd3b654d34578e35e9e2524072e7ae83db6c960084fee9d51d05bfc599"


def write(tmp_path: Path, key_hex: str) -> Path:
    path = tmp_path / "verifier.toml"
    path.write_text(f'[gateways]\ngw-01 = "{GOOD_KEY}"\ngw-bad = "{key_hex}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("key_hex", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_an_invalid_enrolled_key_is_a_config_error_naming_the_gateway(
    tmp_path: Path, key_hex: str
) -> None:
    with pytest.raises(ConfigError, match=r"gateways\.gw-bad = .*not a valid Ed25519 public key"):
        load_config(write(tmp_path, key_hex))


def test_a_valid_key_still_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD_KEY))
    assert config.gateways["gw-bad"] == bytes.fromhex(GOOD_KEY)


@pytest.mark.parametrize("name", ["identity-point", "all-ff-noncanonical"])
def test_the_verifier_process_stops_at_start_with_one_line(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, BAD_KEYS[name])
    done = subprocess.run(
        [sys.executable, "-m", "edgeseal", "verifier", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "gateways.gw-bad" in lines[0] and "not a valid Ed25519 public key" in lines[0]
    assert not (tmp_path / "verifier.sqlite").exists()  # stopped before opening a store
