"""``edgeseal keygen``: create the gateway's signing key and print what to enrol."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from edgeseal.agent.identity import GatewayKey, KeyFileError, save_key

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write the private key (PEM, mode 0600); an existing file is never replaced",
    )


def run(args: argparse.Namespace) -> int:
    key = GatewayKey.generate()
    try:
        save_key(key, args.out)
    except KeyFileError as exc:
        print(f"edgeseal keygen: {exc}", file=sys.stderr)
        return 1
    print(f"key file:   {args.out}")
    print(f"public key: {key.public_key.hex()}")
    print(f"key id:     {key.key_id.hex()}")
    print("Enrol the public key at the back end; keep the key file on this gateway only.")
    return 0
