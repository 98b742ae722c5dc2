"""``python -m edgeseal.native info``: the native core's CPU features and SHA-256 variant."""

from __future__ import annotations

import argparse
import sys

from edgeseal.native import info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgeseal.native")
    sub = parser.add_subparsers(dest="command", required=True)
    info.configure(sub.add_parser("info", help="show CPU features and the active SHA-256 variant"))
    args = parser.parse_args(argv)
    return info.run(args)


if __name__ == "__main__":
    sys.exit(main())
