"""``edgeseal receipt``: write the receipt of one accepted reading as JSON."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgeseal.verifier.config import ConfigError, load_config
from edgeseal.verifier.receipt import ReadingRef, ReceiptError, build_receipt, receipt_json
from edgeseal.verifier.store import StoreError, VerifierStore

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reading", required=True, help="<gateway>/<device>/<seq>, e.g. gw-01/7/1234"
    )
    parser.add_argument(
        "--boot", type=int, help="device boot id, when the device rebooted and reused seq"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", type=Path, help="the verifier's SQLite store")
    source.add_argument(
        "--config", type=Path, help="verifier.toml (its store.url or store.path is used)"
    )
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    try:
        ref = ReadingRef.parse(args.reading, args.boot)
        path: Path | str = (
            args.store if args.store is not None else load_config(args.config).store.location
        )
    except (ValueError, ConfigError) as exc:
        print(f"edgeseal receipt: {exc}", file=sys.stderr)
        return 2
    if isinstance(path, Path) and not path.exists():
        print(f"edgeseal receipt: store {path} does not exist", file=sys.stderr)
        return 2
    try:
        with VerifierStore(path) as store:
            receipt = build_receipt(store, ref)
    except (ReceiptError, StoreError) as exc:
        print(f"edgeseal receipt: {exc}", file=sys.stderr)
        return 1
    text = receipt_json(receipt)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        log.info("receipt for %s written to %s", ref, args.output)
    return 0
