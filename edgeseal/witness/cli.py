"""``edgeseal witness --config witness.toml``: run a tlog-witness until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.plumbing.keyfile import KeyFileError, load_private_key
from edgeseal.tlog.cosignature import CosignatureSigner
from edgeseal.witness.config import load_witness_config
from edgeseal.witness.core import Witness
from edgeseal.witness.server import WitnessServer
from edgeseal.witness.state import StateError, WitnessState

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, type=Path, help="witness.toml (see edgeseal.witness.config)"
    )
    parser.add_argument(
        "--print-vkey",
        action="store_true",
        help="print the witness's cosigner verifier key (for the logs' configs) and exit",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_witness_config(args.config)
        key = load_private_key(config.key_path, what="witness key")
    except (ConfigError, KeyFileError) as exc:
        log.error("%s", exc)
        return 2
    signer = CosignatureSigner(config.name, key)
    if args.print_vkey:
        print(signer.verifier_key())
        return 0
    try:
        state = WitnessState(config.state_path)
    except StateError as exc:
        log.error("%s", exc)
        return 2
    witness = Witness(signer, config.logs, state)
    try:
        server = WitnessServer(
            (config.host, config.port),
            witness,
            max_body=config.max_body_bytes,
            timeout_s=config.request_timeout_s,
        )
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", config.host, config.port, exc.strerror)
        state.close()
        return 2

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        # shutdown() waits for serve_forever to return: never call it on that thread.
        threading.Thread(target=server.shutdown, name="witness-shutdown").start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host, port = server.server_address[:2]
    log.info(
        "witness %s listening on http://%s:%d for %d log(s); cosigner key %s",
        config.name,
        host,
        port,
        len(config.logs),
        signer.verifier_key(),
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        state.close()
    return 0
