"""Per-device link keys (HMAC, firmware_bridge.auth) from a file only the agent can read.

File format, one device per line; blank lines and ``#`` comments are ignored::

    # device id (decimal or 0x-hex)   key (64 hex digits = 32 bytes)
    7        9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    0x0000002a  60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752

A device listed here must authenticate every frame; others need not.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edgeseal.agent.identity import KeyFileError

LINK_KEY_LEN = 32


def parse_link_keys(text: str, source: str) -> dict[int, bytes]:
    keys: dict[int, bytes] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{source}:{lineno}"
        if len(parts) != 2:
            raise KeyFileError(f"{where}: expected '<device id> <64 hex digits>', got {line!r}")
        try:
            device_id = int(parts[0], 0)
        except ValueError:
            raise KeyFileError(f"{where}: device id {parts[0]!r} is not a number") from None
        if not 0 <= device_id <= 0xFFFF_FFFF:
            raise KeyFileError(f"{where}: device id {device_id} is outside u32")
        try:
            key = bytes.fromhex(parts[1])
        except ValueError:
            raise KeyFileError(f"{where}: key for device {device_id} is not hex") from None
        if len(key) != LINK_KEY_LEN:
            raise KeyFileError(
                f"{where}: key for device {device_id} is {len(key)} bytes, link keys are 32"
            )
        if device_id in keys:
            raise KeyFileError(f"{where}: device {device_id} is listed twice")
        keys[device_id] = key
    return keys


def load_link_keys(path: Path) -> dict[int, bytes]:
    """Read a link-key file, refusing one that group or others can access."""
    try:
        st = os.stat(path)
        if st.st_mode & 0o077:
            raise KeyFileError(
                f"link key file {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must not be "
                f"accessible by group or others: run 'chmod 600 {path}'"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"link key file {path} does not exist") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"link key file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read link key file {path}: {exc.strerror}") from None
    return parse_link_keys(text, str(path))
