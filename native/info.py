"""``edgeseal info`` / ``python -m edgeseal.native info``: what the native core found and uses.

Prints the CPU features the C dispatcher read, the SHA-256 variants this machine
can run, the one in use, and whether EDGESEAL_SHA256 chose it. ``--json`` prints
the same as one JSON object for scripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from edgeseal.native.hashing import ENV_VARIANT, DispatchInfo, dispatch_info


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def describe(info: DispatchInfo) -> list[str]:
    if info.forced_by_env:
        why = f"forced by {ENV_VARIANT}={info.env_value}"
    elif info.env_value:
        why = (
            f"chosen from CPU features; {ENV_VARIANT}={info.env_value!r} ignored "
            "(not a variant this CPU can run; use one of the available ones, or 'auto')"
        )
    else:
        why = "chosen from CPU features"
    return [
        f"sha256 variant:   {info.active} ({why})",
        f"available:        {', '.join(info.available)}",
        f"cpu features:     {', '.join(info.cpu_features) or '(none relevant)'}",
    ]


def run(args: argparse.Namespace) -> int:
    info = dispatch_info()
    if args.json:
        print(json.dumps(dataclasses.asdict(info), sort_keys=True))
    else:
        print("\n".join(describe(info)))
    return 0
