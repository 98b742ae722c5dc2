"""``edgeseal check-receipt FILE``: check a receipt and explain any failure.

A receipt carries the key it was signed with, so its own checks only show that it is
consistent: anyone can make a consistent receipt under a key of their own. It proves
something only against the gateway's enrolled key (``--expect-key``). Without one the
checker says so and does not exit 0, unless ``--no-key-check`` says that is intended.

Exit status: 0 valid; 1 a check failed; 2 the file or an argument is unusable (not
readable, not JSON); 3 consistent, but the key was not checked against an enrolment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgeseal.anchor.evidence import AnchorTrust
from edgeseal.verifier.config import ConfigError, parse_public_key
from edgeseal.verifier.receipt import RECEIPT_FORMAT_V2, check_receipt
from edgeseal.verifier.receipt_log import LogTrust
from edgeseal.wire.batch import BatchHeader
from edgeseal.wire.record import ReadingRecord

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNUSABLE = 2
EXIT_KEY_NOT_CHECKED = 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="receipt JSON written by 'edgeseal receipt'")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--expect-key",
        help="the gateway's enrolled public key (64 hex digits); the receipt's key must be it, "
        "or follow from it through the receipt's signed key rotations",
    )
    trust.add_argument(
        "--no-key-check",
        action="store_true",
        help="take the receipt's own key as given (exit 0 for a consistent receipt; "
        "it then proves nothing about which gateway signed it)",
    )
    log = parser.add_argument_group("version 2 receipts: the transparency log and its anchors")
    log.add_argument(
        "--log-key",
        help="the log's signed-note verifier key (name+id+key); default: the receipt's own, "
        "which proves nothing about which log signed (exit 3 unless --no-key-check)",
    )
    log.add_argument(
        "--witness-key",
        action="append",
        default=[],
        help="a witness's cosignature verifier key whose cosignature is required (repeat)",
    )
    log.add_argument(
        "--witnesses-needed",
        type=int,
        help="how many of the --witness-key witnesses must have cosigned (default: all)",
    )
    log.add_argument(
        "--anchors-needed",
        type=int,
        default=1,
        help="how many anchors must be valid (default 1; 0 for a log without anchors)",
    )
    log.add_argument(
        "--tsa-ca",
        action="append",
        default=[],
        type=Path,
        help="PEM certificate of a trusted time-stamping authority's CA (repeat)",
    )
    log.add_argument("--evm-rpc", help="JSON-RPC URL of the chain to re-read EVM anchors from")
    log.add_argument(
        "--evm-contract",
        action="append",
        default=[],
        help="the only anchor contract address(es) to accept (repeat)",
    )
    log.add_argument(
        "--online",
        action="store_true",
        help="also ask the outside parties: re-read the chain, check the TSA's chain of trust",
    )


def _log_trust(args: argparse.Namespace) -> LogTrust:
    """What the options say to trust; ValueError when a CA file cannot be read."""
    roots = []
    for path in args.tsa_ca:
        try:
            roots.append(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read --tsa-ca {path}: {exc.strerror}") from None
    return LogTrust(
        log_key=args.log_key,
        witness_keys=tuple(args.witness_key),
        witnesses_needed=args.witnesses_needed,
        online=args.online,
        anchors=AnchorTrust(
            tsa_roots=tuple(roots),
            evm_rpc_url=args.evm_rpc,
            evm_contracts=tuple(args.evm_contract),
        ),
        anchors_needed=args.anchors_needed,
    )


def _read(path: Path) -> Any:
    """The receipt's JSON; ValueError saying why the file is unusable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a receipt: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a receipt: not JSON ({exc})") from None


def run(args: argparse.Namespace) -> int:
    try:
        expected = parse_public_key(args.expect_key, "--expect-key") if args.expect_key else None
    except ConfigError as exc:
        print(f"edgeseal check-receipt: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        receipt = _read(args.file)
        log_trust = _log_trust(args)
    except ValueError as exc:
        print(f"edgeseal check-receipt: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    checks = check_receipt(receipt, expected_public_key=expected, log_trust=log_trust)
    failed = [c for c in checks if not c.ok]
    for c in checks:
        print(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}")
    if failed:
        print(
            f"INVALID receipt {args.file}: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}"
        )
        return EXIT_INVALID
    # Named from the signed bytes (every check passed), not from the readable copies.
    reading = ReadingRecord.decode(bytes.fromhex(receipt["record"]))
    header = BatchHeader.decode(bytes.fromhex(receipt["batch"]["header"]))
    what = (
        f"reading {reading.gateway_id}/{reading.device_id}/{reading.device_seq} "
        f"(boot {reading.boot_id}) is in batch seq {header.seq}"
    )
    is_v2 = receipt.get("format") == RECEIPT_FORMAT_V2
    if is_v2:
        what += f", entry {receipt['log']['index']} of the log"
    unchecked = []
    if expected is None:
        unchecked.append(
            f"its key {receipt['public_key']} was NOT checked against gateway "
            f"{header.gateway_id}'s enrolled key (--expect-key)"
        )
    if is_v2 and args.log_key is None:
        unchecked.append(
            f"the log key it names ({receipt['log']['log_key']}) was NOT checked against the "
            "log's trusted key (--log-key)"
        )
    if not unchecked:
        print(f"VALID receipt: {what}")
        return EXIT_VALID
    if args.no_key_check:
        print(f"VALID receipt: {what}; {'; '.join(unchecked)} (--no-key-check)")
        return EXIT_VALID
    print(
        f"KEY NOT CHECKED: receipt {args.file} is consistent ({what}), but "
        f"{'; '.join(unchecked)}: anyone can make a consistent receipt under keys of their own. "
        "Pass the trusted keys, or --no-key-check to take the receipt's keys as given"
    )
    return EXIT_KEY_NOT_CHECKED
