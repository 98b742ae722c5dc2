"""``edgeseal check-receipt FILE``: check a receipt and explain any failure (exit 0 iff valid)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeseal.verifier.config import ConfigError, parse_public_key
from edgeseal.verifier.receipt import check_receipt
from edgeseal.wire.batch import BatchHeader
from edgeseal.wire.record import ReadingRecord


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="receipt JSON written by 'edgeseal receipt'")
    parser.add_argument(
        "--expect-key",
        help="the gateway public key you trust (64 hex digits); without it the receipt's key is taken as given",
    )


def run(args: argparse.Namespace) -> int:
    try:
        expected = parse_public_key(args.expect_key, "--expect-key") if args.expect_key else None
    except ConfigError as exc:
        print(f"edgeseal check-receipt: {exc}", file=sys.stderr)
        return 2
    try:
        receipt = json.loads(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"edgeseal check-receipt: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"INVALID receipt {args.file}: not JSON ({exc})")
        return 1
    checks = check_receipt(receipt, expected_public_key=expected)
    failed = [c for c in checks if not c.ok]
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    if failed:
        print(
            f"INVALID receipt {args.file}: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}"
        )
        return 1
    # Named from the signed bytes (every check passed), not from the readable copies.
    reading = ReadingRecord.decode(bytes.fromhex(receipt["record"]))
    header = BatchHeader.decode(bytes.fromhex(receipt["batch"]["header"]))
    print(
        f"VALID receipt: reading {reading.gateway_id}/{reading.device_id}/{reading.device_seq} "
        f"(boot {reading.boot_id}) is in batch seq {header.seq}"
    )
    return 0
