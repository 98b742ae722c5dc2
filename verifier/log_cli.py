"""``edgeseal log``: show the log's checkpoint, audit the whole log, print proofs.

::

    edgeseal log show --config verifier.toml          # from the store
    edgeseal log show --url https://host/log [--log-key VKEY]
    edgeseal log audit --url https://host/log --log-key VKEY --config verifier.toml
    edgeseal log prove --url https://host/log inclusion INDEX SIZE
    edgeseal log prove --url https://host/log consistency OLD NEW

``audit`` fetches every tile and entry bundle, rebuilds the tree, checks it against the
checkpoint and its signature, and checks every entry's gateway signature and each
gateway's chain (verifier/log_audit.py) against the enrolled keys of ``--config`` (or
``--gateway ID=KEY``). Exit status: 0 fine, 1 a problem found, 2 unusable arguments or
the log cannot be fetched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeseal.plumbing.config_toml import ConfigError
from edgeseal.plumbing.public_keys import parse_public_key
from edgeseal.tlog.audit import audit_log
from edgeseal.tlog.checkpoint import open_checkpoint, parse_checkpoint
from edgeseal.tlog.client import TileClient, TileFetchError
from edgeseal.tlog.note import NoteError, NoteVerifier, parse_note
from edgeseal.tlog.tiles import (
    TileId,
    consistency_proof_from_tiles,
    inclusion_proof_from_tiles,
)
from edgeseal.verifier.config import load_config
from edgeseal.verifier.log_audit import EntryAuditor
from edgeseal.verifier.store import StoreError, VerifierStore

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_UNUSABLE = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser("show", help="the newest checkpoint, its cosignatures and anchors")
    source = show.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="verifier.toml: read the store")
    source.add_argument("--url", help="the log's base URL (ending in /log)")
    show.add_argument("--log-key", help="check the checkpoint's signature with this key")

    audit = sub.add_parser("audit", help="fetch and check the whole log")
    audit.add_argument("--url", required=True, help="the log's base URL (ending in /log)")
    audit.add_argument("--log-key", required=True, help="the log's signed-note verifier key")
    keys = audit.add_mutually_exclusive_group(required=True)
    keys.add_argument("--config", type=Path, help="verifier.toml: its [gateways] keys")
    keys.add_argument(
        "--gateway",
        action="append",
        metavar="ID=KEY",
        help="an enrolled gateway and its public key (64 hex digits); repeat",
    )

    prove = sub.add_parser("prove", help="print an inclusion or a consistency proof")
    prove.add_argument("--url", required=True, help="the log's base URL (ending in /log)")
    prove.add_argument("kind", choices=("inclusion", "consistency"))
    prove.add_argument("a", type=int, help="inclusion: entry index; consistency: old size")
    prove.add_argument("b", type=int, help="inclusion: tree size; consistency: new size")


def _fail(message: str) -> int:
    print(f"edgeseal log: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


def _show_store(path: Path) -> int:
    config = load_config(path)
    if not config.store.url and not config.store.path.exists():
        return _fail(f"store {config.store.path} does not exist (has the verifier run yet?)")
    with VerifierStore(config.store.location) as store:
        latest = store.log.latest_checkpoint(published=False)
        published = store.log.latest_checkpoint()
        size = store.log.size()
        keys = store.log.log_keys()
    print(f"entries in the store: {size}")
    if keys is not None:
        # What witnesses' [[log]] vkey and relying parties' --log-key need.
        log_vkey, witness_vkeys = keys
        print(f"log key: {log_vkey}")
        for vkey in witness_vkeys:
            print(f"witness key: {vkey}")
    if latest is None:
        print("no checkpoint issued yet")
        return EXIT_OK
    if published is not None:
        print(published.best_note.decode("utf-8"), end="")
        kinds = ", ".join(e.get("kind", "?") for e in published.evidence) or "none"
        print(
            f"published: size {published.size}, {published.cosignatures} cosignature(s), "
            f"anchors: {kinds}"
        )
    if latest.pending or not latest.published:
        print(
            f"newest checkpoint {latest.size}: "
            f"{'published' if latest.published else 'NOT published'}; "
            f"still missing: {latest.pending or 'nothing'}"
        )
    return EXIT_OK


def _show_url(url: str, log_key: str | None) -> int:
    note = TileClient(url).checkpoint()
    if log_key is not None:
        checkpoint, parsed = open_checkpoint(note, NoteVerifier.from_vkey(log_key))
        print(f"signature by {parsed.signatures[0].name}: valid")
    else:
        parsed = parse_note(note)
        checkpoint = parse_checkpoint(parsed.text)
        print("signature NOT checked (no --log-key)")
    print(note.decode("utf-8"), end="")
    print(f"origin {checkpoint.origin}, size {checkpoint.size}, root {checkpoint.root_hash.hex()}")
    return EXIT_OK


def _enrolled(args: argparse.Namespace) -> dict[str, bytes]:
    if args.config is not None:
        return dict(load_config(args.config).gateways)
    enrolled = {}
    for item in args.gateway:
        gateway_id, sep, key = item.partition("=")
        if not sep:
            raise ConfigError(f"--gateway {item!r}: expected ID=KEY")
        enrolled[gateway_id] = parse_public_key(key, f"--gateway {gateway_id}")
    return enrolled


def _audit(args: argparse.Namespace) -> int:
    auditor = EntryAuditor(_enrolled(args))
    report = audit_log(
        TileClient(args.url), NoteVerifier.from_vkey(args.log_key), check_entry=auditor.check
    )
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    cp = report.checkpoint
    size = f"size {cp.size}, root {cp.root_hash.hex()}" if cp is not None else "no checkpoint"
    chains = ", ".join(f"{gw}: {n}" for gw, n in sorted(auditor.batches.items())) or "none"
    if report.ok:
        print(f"OK log {args.url}: {size}; {auditor.entries} entries checked ({chains})")
        return EXIT_OK
    print(f"FAILED log {args.url}: {size}; {len(report.problems)} problem(s)")
    return EXIT_PROBLEM


def _prove(args: argparse.Namespace) -> int:
    client = TileClient(args.url)

    def read_tile(t: TileId) -> bytes:
        return client.tile(t)

    if args.kind == "inclusion":
        if not 0 <= args.a < args.b:
            return _fail(f"inclusion: index {args.a} must be below the tree size {args.b}")
        proof = inclusion_proof_from_tiles(args.a, args.b, read_tile)
        what = {"index": args.a, "tree_size": args.b}
    else:
        if not 0 <= args.a <= args.b:
            return _fail(f"consistency: old size {args.a} must be at most the new size {args.b}")
        proof = consistency_proof_from_tiles(args.a, args.b, read_tile)
        what = {"old_size": args.a, "new_size": args.b}
    print(json.dumps({**what, "proof": [h.hex() for h in proof]}, indent=2))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        match args.action:
            case "show":
                if args.config is not None:
                    return _show_store(args.config)
                return _show_url(args.url, args.log_key)
            case "audit":
                return _audit(args)
            case _:
                return _prove(args)
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc))
    except TileFetchError as exc:
        return _fail(f"cannot fetch the log: {exc}")
    except (NoteError, ValueError) as exc:
        print(f"edgeseal log: INVALID checkpoint or argument: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
