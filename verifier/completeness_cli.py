"""``edgeseal completeness``: per device and boot, readings stored, readings lost with
their reasons, and unexplained gaps (accounts.py); ``--json`` for scripts.

Reads the store read-only, so it runs next to working verifiers. Exit status 0 when
no account has an unexplained gap, 1 when one has, 2 on a usage or store error.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.verifier.accounts import AccountStatus, BootAccount, list_accounts
from edgeseal.verifier.config import load_config
from edgeseal.verifier.store_postgres import connect_read_only
from edgeseal.verifier.store_postgres import describe as store_name


def parse_since(text: str) -> int:
    """UNIX seconds or an ISO 8601 time (with a zone) -> UNIX microseconds."""
    try:
        return int(float(text) * 1_000_000)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r} is neither UNIX seconds nor an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ValueError(f"--since {text!r} has no time zone (add Z or +hh:mm)")
    return int(when.timestamp() * 1_000_000)


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", type=Path, help="the verifier's SQLite store")
    source.add_argument(
        "--config", type=Path, help="verifier.toml (its store.url or store.path is used)"
    )
    parser.add_argument("--gateway", help="only this gateway id")
    parser.add_argument("--device", type=int, help="only this device id")
    parser.add_argument(
        "--since",
        help="only accounts changed since (UNIX seconds or ISO 8601, e.g. 2026-01-01T00:00Z)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document for scripts")


def describe(account: BootAccount) -> list[str]:
    a = account
    fw = f", firmware {a.firmware_version}" if a.firmware_version else ""
    head = (
        f"gateway {a.gateway_id} device {a.device_id} boot {a.boot_id}{fw}: {a.status.value}; "
        f"seqs 1..{a.last_seq}: {a.stored} stored, {a.lost} lost"
    )
    if not a.announced:
        head += " (no signed boot event)"
    lines = [head]
    lines += [
        f"  lost ({r.reason}): {r.readings} readings in {r.notices} signed notice(s)"
        for r in a.lost_by_reason
    ]
    for g in a.gaps:
        what = "UNEXPLAINED GAP" if g.reported else "open gap (within the margin)"
        lines.append(
            f"  {what}: seqs {g.first_seq}..{g.last_seq} ({g.readings} readings), "
            f"passed at batch {g.seen_at_batch}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        path: Path | str = (
            args.store if args.store is not None else load_config(args.config).store.location
        )
        since = None if args.since is None else parse_since(args.since)
    except (ValueError, ConfigError) as exc:
        print(f"edgeseal completeness: {exc}", file=sys.stderr)
        return 2
    if isinstance(path, Path) and not path.exists():
        print(f"edgeseal completeness: store {path} does not exist", file=sys.stderr)
        return 2
    try:
        conn = (
            sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            if isinstance(path, Path)
            else connect_read_only(path)
        )
        try:
            accounts = list_accounts(
                conn, gateway_id=args.gateway, device_id=args.device, since_us=since
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        print(f"edgeseal completeness: cannot read {store_name(path)}: {exc}", file=sys.stderr)
        return 2
    incomplete = [a for a in accounts if a.status is AccountStatus.INCOMPLETE]
    if args.json:
        doc = {
            "accounts": [a.to_json() for a in accounts],
            "complete": not incomplete,
        }
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        for account in accounts:
            print("\n".join(describe(account)))
        print(
            f"{len(accounts)} account(s), {len(incomplete)} with unexplained gaps"
            if accounts
            else "no accounts match"
        )
    return 1 if incomplete else 0
